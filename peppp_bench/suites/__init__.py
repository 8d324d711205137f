"""Suites: folders of Parquet tables with metadata and a manifest, where they load from (bundled, cache,
the Hub), the recipes that build the paper's from the authors' arrays, and their structure report."""
