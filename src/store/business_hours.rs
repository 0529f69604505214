//! Per-team business hours (schedule in the team's time zone, holidays).

use chrono::Utc;
use entity::business_hours;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::StoreError;
use crate::domain::TeamId;
use crate::domain::hours::{BusinessHours, WeeklySchedule};

/// The stored hours of a team, if it has any (no row: always open).
pub async fn find(
    db: &impl ConnectionTrait,
    team: TeamId,
) -> Result<Option<business_hours::Model>, StoreError> {
    Ok(business_hours::Entity::find()
        .filter(business_hours::Column::TeamId.eq(team.0))
        .one(db)
        .await?)
}

/// The parsed schedule of a stored row.
pub fn parse(row: &business_hours::Model) -> Result<BusinessHours, StoreError> {
    let schedule: WeeklySchedule = serde_json::from_value(row.schedule.clone())
        .map_err(|e| StoreError::Corrupt(format!("business hours schedule: {e}")))?;
    let holidays: Vec<String> = serde_json::from_value(row.holidays.clone())
        .map_err(|e| StoreError::Corrupt(format!("business hours holidays: {e}")))?;
    BusinessHours::parse(&row.timezone, &schedule, &holidays)
        .map_err(|e| StoreError::Corrupt(format!("business hours: {e}")))
}

/// Sets a team's hours (replacing any).
pub async fn put(
    db: &impl ConnectionTrait,
    team: TeamId,
    timezone: &str,
    schedule: &WeeklySchedule,
    holidays: &[String],
) -> Result<business_hours::Model, StoreError> {
    let now = Utc::now();
    let schedule =
        serde_json::to_value(schedule).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let holidays =
        serde_json::to_value(holidays).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    match find(db, team).await? {
        Some(row) => {
            let mut am: business_hours::ActiveModel = row.into();
            am.timezone = Set(timezone.to_owned());
            am.schedule = Set(schedule);
            am.holidays = Set(holidays);
            am.updated_at = Set(now);
            Ok(am.update(db).await?)
        }
        None => Ok(business_hours::ActiveModel {
            team_id: Set(team.0),
            timezone: Set(timezone.to_owned()),
            schedule: Set(schedule),
            holidays: Set(holidays),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?),
    }
}

/// Removes a team's hours (it is then always open).
pub async fn delete(db: &impl ConnectionTrait, team: TeamId) -> Result<bool, StoreError> {
    let res = business_hours::Entity::delete_many()
        .filter(business_hours::Column::TeamId.eq(team.0))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}
