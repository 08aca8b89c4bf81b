#!/usr/bin/env python3
"""Daily booking report from schedbridge's canonical events.

Reads scheduling.events.v1 from the beginning, drops duplicates by event_id,
sets aside events whose source is not the one that first wrote their booking
(a booking's events all come from one provider account), folds the events into the current state of every booking (following
reschedule links, so a rescheduled booking stays one booking), and prints a
report per day, provider: bookings created, canceled, rescheduled, no-shows
and the no-show rate.

    python booking_report.py --brokers localhost:9092 [--topic scheduling.events.v1]
                             [--exit-at-end] [--json]

With --exit-at-end it stops once every partition has been read to its end;
otherwise it keeps consuming and prints the report on Ctrl-C.
"""

import argparse
import json
import signal
import sys
import uuid
from collections import defaultdict

from confluent_kafka import Consumer, KafkaError, TopicPartition


class Bookings:
    """Current state per booking chain; a reschedule links two uids into one chain."""

    def __init__(self):
        self.seen_event_ids = set()
        self.duplicates = 0
        self.owner = {}     # key (booking or subject uid) -> the source that first wrote it
        self.source_conflicts = 0
        self.root = {}      # booking uid -> uid of the first booking of its chain
        self.state = {}     # chain root -> {"provider", "status", "no_show", "no_show_day"}
        self.rows = defaultdict(lambda: {"created": 0, "canceled": 0, "rescheduled": 0})

    def chain(self, uid):
        while uid in self.root and self.root[uid] != uid:
            uid = self.root[uid]
        return uid

    def link(self, old_uid, new_uid):
        # Either half of a reschedule may arrive first (Calendly sends two deliveries).
        root = self.chain(old_uid)
        self.root.setdefault(root, root)
        self.root[new_uid] = root
        if new_uid in self.state and new_uid != root:
            merged = self.state.pop(new_uid)
            self.state.setdefault(root, merged)

    def apply(self, event):
        if event.get("schema") != "scheduling-event/v1":
            return
        if event["event_id"] in self.seen_event_ids:
            self.duplicates += 1  # at-least-once delivery: the same event again
            return
        self.seen_event_ids.add(event["event_id"])
        subject = event.get("booking") or event.get("subject") or {}
        key, source = subject.get("uid"), event.get("source")
        if key is not None and self.owner.setdefault(key, source) != source:
            # Another account's secret signed an event for this booking.
            self.source_conflicts += 1
            return
        booking = event.get("booking")
        if booking is None:
            return  # subject events (forms, out-of-office, ...) are not bookings
        kind = event["event_type"]
        day = event["occurred_at"][:10]
        provider = event["provider"]
        row = self.rows[(day, provider)]
        uid = booking["uid"]
        if booking.get("previous_uid"):
            self.link(booking["previous_uid"], uid)
        if booking.get("rescheduled_to_uid"):
            self.link(uid, booking["rescheduled_to_uid"])
        root = self.chain(uid)
        state = self.state.setdefault(root, {"provider": provider, "status": None,
                                             "no_show": False, "no_show_day": None})
        if kind == "booking.created" and not booking.get("previous_uid"):
            row["created"] += 1          # the new half of a reschedule is not a new booking
        elif kind == "booking.canceled":
            row["canceled"] += 1
        elif kind == "booking.rescheduled":
            row["rescheduled"] += 1      # one per reschedule, whichever provider
        if kind == "booking.no_show":
            state["no_show"], state["no_show_day"] = True, day
        elif kind == "booking.no_show_cleared":
            state["no_show"], state["no_show_day"] = False, None
        if booking.get("status") and kind != "booking.rescheduled":
            state["status"] = booking["status"]
        elif kind == "booking.rescheduled" and booking.get("status") != "rescheduled":
            state["status"] = booking["status"]  # same-id reschedules (SavvyCal) keep their status

    def report(self):
        no_shows = defaultdict(int)
        for state in self.state.values():
            if state["no_show"]:
                no_shows[(state["no_show_day"], state["provider"])] += 1
        keys = sorted(set(self.rows) | set(no_shows))
        days = []
        for day, provider in keys:
            row = self.rows[(day, provider)]
            n = no_shows[(day, provider)]
            days.append({"day": day, "provider": provider, "created": row["created"],
                         "canceled": row["canceled"], "rescheduled": row["rescheduled"],
                         "no_shows": n,
                         "no_show_rate": round(n / row["created"], 4) if row["created"] else None})
        statuses = defaultdict(int)
        for state in self.state.values():
            statuses[state["status"] or "unknown"] += 1
        return {"days": days, "bookings": len(self.state), "by_status": dict(sorted(statuses.items())),
                "events": len(self.seen_event_ids), "duplicates_dropped": self.duplicates,
                "source_conflicts": self.source_conflicts}


def print_table(report):
    print(f"{'day':<10}  {'provider':<9} {'created':>7} {'canceled':>8} {'rescheduled':>11} "
          f"{'no-shows':>8} {'no-show rate':>12}")
    for d in report["days"]:
        rate = "-" if d["no_show_rate"] is None else f"{d['no_show_rate']:.0%}"
        print(f"{d['day']:<10}  {d['provider']:<9} {d['created']:>7} {d['canceled']:>8} "
              f"{d['rescheduled']:>11} {d['no_shows']:>8} {rate:>12}")
    print(f"\n{report['bookings']} booking(s) now: " +
          ", ".join(f"{k} {v}" for k, v in report["by_status"].items()) +
          f"; {report['events']} event(s), {report['duplicates_dropped']} duplicate(s) dropped, "
          f"{report['source_conflicts']} event(s) from a source not owning their booking set aside")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", required=True, help="bootstrap servers, host:port[,...]")
    parser.add_argument("--topic", default="scheduling.events.v1")
    parser.add_argument("--exit-at-end", action="store_true", help="stop at the end of the topic")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--timeout", type=float, default=30, help="seconds to wait for the topic")
    args = parser.parse_args()

    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": f"booking-report-{uuid.uuid4()}",  # a throw-away group: read everything
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
    })
    metadata = consumer.list_topics(args.topic, timeout=args.timeout)
    topic = metadata.topics.get(args.topic)
    if topic is None or topic.error is not None or not topic.partitions:
        print(f"booking_report: no topic {args.topic} at {args.brokers}", file=sys.stderr)
        return 2
    partitions = [TopicPartition(args.topic, p, 0) for p in topic.partitions]
    consumer.assign(partitions)
    # Start at each partition's beginning.
    for tp in partitions:
        low, _ = consumer.get_watermark_offsets(tp, timeout=args.timeout)
        tp.offset = low
    consumer.assign(partitions)

    bookings = Bookings()
    at_end = set()
    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                at_end.add(msg.partition())
                if args.exit_at_end and len(at_end) == len(partitions):
                    break
                continue
            print(f"booking_report: {msg.error()}", file=sys.stderr)
            return 1
        at_end.discard(msg.partition())
        try:
            bookings.apply(json.loads(msg.value()))
        except (ValueError, KeyError, TypeError) as e:
            print(f"booking_report: skipping a record at {msg.partition()}/{msg.offset()}: {e}",
                  file=sys.stderr)
    consumer.close()
    report = bookings.report()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
