"""The private SQLite gallery: storage, enrolling people from folders, forgetting a person everywhere."""
