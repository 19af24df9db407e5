"""Publishing the annotations and their confidence to FiftyOne."""
