"""The HTTP API and the applicants' web page (FastAPI). No matching logic: see ``matcher``.

    from service.app import create_app      # the app factory
    from service.server import serve        # `guide-match serve`
"""
