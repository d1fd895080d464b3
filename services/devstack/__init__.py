"""Embedded infrastructure and the dev launcher: real broker, Redis and Postgres processes on
free 127.0.0.1 ports, plus the login endpoints and projectors of each region."""
