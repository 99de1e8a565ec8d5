"""The Auto Labeling panel (see issue 4): the Python panel and its React
component. Nothing is registered from here yet."""
