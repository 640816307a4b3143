"""One log format for every process: a line each, with the service's name."""

import logging
import sys


def configure_logging(service: str, level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s",
        force=True,
    )
    # aiokafka logs every failed reconnect at ERROR; our own retry lines say it once.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL if level.upper() != "DEBUG" else logging.DEBUG)
    logging.getLogger("pymongo").setLevel(logging.WARNING)
