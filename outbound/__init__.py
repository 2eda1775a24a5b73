"""What leaves the office: staff alerts and the deadline watch, media downloads, the messaging-window
rules of SMS/WhatsApp, e-mail threading and bounces. Imports ``intake``, ``channels``, ``app``."""
