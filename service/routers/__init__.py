"""The API's routers; ``service.app.ROUTERS`` lists the ones the app includes."""
