"""Presentation: terminal tables now; HTML reports and charts build on the same data."""
