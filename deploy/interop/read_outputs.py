#!/usr/bin/env python3
"""Reads custream's output topics written with --output-format confluent,
the way a downstream consumer of the Kafka ecosystem would: with
confluent-kafka-python's DeserializingConsumer, its SchemaRegistryClient
and AvroDeserializer (which reads the 00 + schema-id framing, fetches the
writer schema by id from the registry and decodes with fastavro). Nothing
of custream's own code is used.

Prints one JSON line per record, in topic and partition order:

  {"topic": ..., "partition": ..., "offset": ..., "key": ..., "schema_id": ..., "value": {...}}

Avro timestamps (fastavro's datetime) print as RFC 3339 UTC with
microseconds, e.g. "2016-06-23T11:11:18.123000Z".

It reads each topic from the beginning, read_committed (custream writes in
transactions), to the end as it is when reached (partition EOF), then
exits 0; a record that does not decode exits 2.

  pip install 'confluent-kafka[avro]'
  read_outputs.py --brokers 127.0.0.1:9092 --registry http://127.0.0.1:8081 \\
      customers.results customers.merges customers.snapshots

Basic auth: --registry-user USER with CUSTREAM_SCHEMA_REGISTRY_PASSWORD set.
"""
import argparse
import datetime
import faulthandler
import json
import os
import struct
import sys
import time
import uuid

from confluent_kafka import KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.error import ConsumeError
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import StringDeserializer
from confluent_kafka import DeserializingConsumer


def plain(v):
    """The decoded value as JSON-able data."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--registry", required=True, help="Confluent-compatible registry URL")
    ap.add_argument("--registry-user", default="")
    ap.add_argument("--timeout", type=float, default=60, help="seconds to reach the end of every partition")
    ap.add_argument("topics", nargs="+")
    args = ap.parse_args()
    # A hang anywhere (the broker, the registry) ends with a stack trace,
    # not a silent kill by the caller.
    faulthandler.dump_traceback_later(args.timeout + 30, exit=True)

    sr_conf = {"url": args.registry, "timeout": 10}
    if args.registry_user:
        sr_conf["basic.auth.user.info"] = args.registry_user + ":" + os.environ.get("CUSTREAM_SCHEMA_REGISTRY_PASSWORD", "")
    avro = AvroDeserializer(SchemaRegistryClient(sr_conf))
    ids = {}

    def value(data, ctx):
        # The writer schema id, for the output line; the decoding is the
        # AvroDeserializer's own.
        if data is not None and len(data) >= 5 and data[0] == 0:
            ids["last"] = struct.unpack(">I", data[1:5])[0]
        return avro(data, ctx)

    md = AdminClient({"bootstrap.servers": args.brokers}).list_topics(timeout=30)
    parts = []
    for t in args.topics:
        tm = md.topics.get(t)
        if tm is None or tm.error is not None:
            print(f"read_outputs: no topic {t}", file=sys.stderr)
            return 1
        parts += [TopicPartition(t, p, 0) for p in sorted(tm.partitions)]

    consumer = DeserializingConsumer({
        "bootstrap.servers": args.brokers,
        "group.id": "read-outputs-" + uuid.uuid4().hex,
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "key.deserializer": StringDeserializer("utf_8"),
        "value.deserializer": value,
    })
    consumer.assign(parts)
    pending = {(p.topic, p.partition) for p in parts}
    out = []
    deadline = time.monotonic() + args.timeout
    try:
        while pending:
            if time.monotonic() > deadline:
                print(f"read_outputs: no end of {sorted(pending)} within {args.timeout}s", file=sys.stderr)
                return 1
            try:
                msg = consumer.poll(1.0)
            except ConsumeError as e:
                if e.code == KafkaError._PARTITION_EOF:
                    m = e.kafka_message
                    pending.discard((m.topic(), m.partition()))
                    continue
                print(f"read_outputs: {e}", file=sys.stderr)
                return 2
            if msg is None:
                continue
            if os.environ.get("READ_OUTPUTS_DEBUG"):
                print(f"read_outputs: {msg.topic()}[{msg.partition()}]@{msg.offset()}", file=sys.stderr)
            out.append({
                "topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(),
                "key": msg.key(), "schema_id": ids.pop("last", None), "value": plain(msg.value()),
            })
    finally:
        consumer.close()
    order = {t: i for i, t in enumerate(args.topics)}
    out.sort(key=lambda r: (order[r["topic"]], r["partition"], r["offset"]))
    for r in out:
        print(json.dumps(r, sort_keys=True, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
