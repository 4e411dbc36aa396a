"""trailhound: find a stolen cloud key in AWS CloudTrail and follow everything it did."""

__version__ = "0.1.0"
