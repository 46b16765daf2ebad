"""The review page: one web room that the device's API (`gridscout serve`, `gridscout run`) and the fleet server
(`gridscout fleet serve`) both mount over their own report store (`ReportSource`).

A person logs in once with the API token and gets an HttpOnly, SameSite=Strict session cookie; every POST also
carries the session's CSRF token in a header. The page lists the reports, shows each one's evidence with its box
drawn over it, takes reviews from the keyboard, and maps every placed report. Every script and style ships here
(Leaflet from its release files, `static/vendor/leaflet`); nothing is fetched from the internet, and the map has no
base layer unless the operator names a tile source on their own network.
"""
