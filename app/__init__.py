"""The composition root: typed settings (``settings``), the Container (``container``), office routing
(``routing``) and ``bootstrap``, which wires every part. ``settings``/``container``/``routing`` import
only ``intake`` and ``channels``; ``bootstrap`` imports the parts it installs (bot, outbound)."""
