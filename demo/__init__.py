"""The demo: sample data the project makes itself, demo accounts, and the end-to-end slice."""
