"""Event contracts and the platform pieces every Kith service uses."""
