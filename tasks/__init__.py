"""Tasks (the items to label) and annotations: handing out work and taking submissions."""
