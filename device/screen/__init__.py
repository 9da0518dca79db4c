"""The customer's screen: a local web UI that follows the checkout state machine live."""
