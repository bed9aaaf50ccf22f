"""Sales services: forecast (R11.3).

The forecast writes nothing: the weighted pipeline and the forecast of orders are reads,
in ``selectors/forecast.py`` (who sees what, the pipeline, the order history) and
``selectors/forecast_model.py`` (the statistics and the day's cache). The ``SalesMonth``
rollup they read is kept by the order service.
"""
