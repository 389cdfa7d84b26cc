"""Presentation of results: terminal tables (``table``), the run time series
(``timeseries``), charts and the self-contained HTML sweep report (``charts``,
``html``), and the calibration and scenario tables (``calibration``, ``scenarios``).
Nothing here simulates or computes metrics; it formats what the layers below give."""
