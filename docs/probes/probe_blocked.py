#!/usr/bin/env python3
"""connection.blocked on RabbitMQ 3.10.8: which connections are blocked during a memory
alarm (set with rabbitmqctl set_vm_memory_high_watermark absolute 1), and when.
Run from ../shared/tools/rabbit (it calls ctl.sh) against a node from start.sh."""
import pika, time, threading, subprocess
events = []
def conn(name):
    c = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/"))
    c.add_on_connection_blocked_callback(lambda *_: events.append((name, "blocked", round(time.time()-t0,2))))
    c.add_on_connection_unblocked_callback(lambda *_: events.append((name, "unblocked", round(time.time()-t0,2))))
    return c
t0 = time.time()
cons = conn("consumer"); pub = conn("publisher"); idle_pub = conn("published-before")
ch = cons.channel(); ch.queue_declare("bp", auto_delete=False)
ipc = idle_pub.channel(); ipc.basic_publish("", "bp", b"x")
subprocess.run(["bash","ctl.sh","set_vm_memory_high_watermark","absolute","1"], capture_output=True)
time.sleep(2)
for c in (cons, pub, idle_pub): c.process_data_events(0.5)
print("after alarm, nobody publishing:", events)
pch = pub.channel()
pch.basic_publish("", "bp", b"y")
for c in (cons, pub, idle_pub): c.process_data_events(1)
print("after publisher publishes:", events)
# consumer acks still work?
m = ch.basic_get("bp"); print("consumer get while alarm:", m[0] is not None)
if m[0]: ch.basic_ack(m[0].delivery_tag)
cons.process_data_events(0.5)
subprocess.run(["bash","ctl.sh","set_vm_memory_high_watermark","0.4"], capture_output=True)
time.sleep(2)
for c in (cons, pub, idle_pub): c.process_data_events(1)
print("after clear:", events)
ch.queue_delete("bp")
