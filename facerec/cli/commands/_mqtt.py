"""The --mqtt options `webcam` and `serve` share, and the publisher they build (facerec.video.mqtt)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable


def add_mqtt_options(p) -> None:
    from facerec.video.mqtt import DEFAULT_DISCOVERY_PREFIX, DEFAULT_PREFIX

    g = p.add_argument_group("MQTT (Home Assistant, Node-RED, ...; needs the mqtt extra)")
    g.add_argument("--mqtt", metavar="URL",
                   help="publish events, presence and Home Assistant discovery to this broker: "
                        "mqtt://[user:pass@]host[:port] or mqtts:// (TLS); credentials also from "
                        "FACEREC_MQTT_USERNAME / FACEREC_MQTT_PASSWORD")
    g.add_argument("--mqtt-prefix", default=DEFAULT_PREFIX, metavar="TOPIC",
                   help="topic prefix (default: %(default)s)")
    g.add_argument("--mqtt-discovery-prefix", default=DEFAULT_DISCOVERY_PREFIX, metavar="TOPIC",
                   help="Home Assistant discovery prefix, '' for none (default: %(default)s)")
    g.add_argument("--mqtt-ca", type=Path, metavar="FILE", help="CA certificate of an mqtts:// broker")
    g.add_argument("--mqtt-snapshots", action="store_true",
                   help="put a base64 JPEG crop of the face in each event (also for unknown faces)")


def publisher_from_args(args, people: Callable[[], list[str]] | None) -> Any:
    """The MqttPublisher --mqtt asks for (not started), or None; a bad URL or prefix is a usage error (exit 2)."""
    if not args.mqtt:
        return None
    from facerec.paths import mqtt_credentials_from_env
    from facerec.video.mqtt import MqttPublisher, parse_broker_url

    broker = parse_broker_url(args.mqtt, ca_file=args.mqtt_ca, env_credentials=mqtt_credentials_from_env())
    return MqttPublisher(broker, prefix=args.mqtt_prefix, discovery_prefix=args.mqtt_discovery_prefix or None,
                         snapshots=args.mqtt_snapshots, people=people)
