// The embeddable Switchboard widget (see web/widget/README). Placeholder until the widget lands.
