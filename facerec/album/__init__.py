"""Album tagging: the tagging run, XMP sidecars, clusters of unknown faces, annotated copies, Ray."""
