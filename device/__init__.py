"""The kiosk application: configuration, the checkout state machine, the app and its screen."""
