"""API plumbing every app uses: the error envelope, pagination, parsers, strict serializers, throttles."""
