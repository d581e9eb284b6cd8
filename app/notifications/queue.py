"""The message queue (REDIS_URL): Flask-SocketIO's Redis manager, made to live through Redis going away.

As it comes, a broadcast waits as long as Redis does (for ever when Redis
hangs), is dropped when Redis is down, even for this process's own clients,
and the subscription retries with a back-off of up to a minute, so broadcasts
stay lost that long after Redis is back. Here a publish gives up after a
second and reaches this process's clients directly, and the subscription
tries again every second. (Private hooks of python-socketio, pinned in
requirements.txt.)
"""
import time

import redis
import socketio

TIMEOUT = 1.0  # seconds a publish may wait for Redis
RETRY = 1.0    # seconds between attempts to subscribe again


class RedisQueue(socketio.RedisManager):
    def _redis_connect(self):
        super()._redis_connect()  # the subscription's client: an idle subscription is no fault, so no timeout
        self.redis = redis.Redis.from_url(self.redis_url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)

    def _publish(self, data):
        try:
            if not self.connected:
                self._redis_connect()
            return self.redis.publish(self.channel, self.json.dumps(data))
        except redis.RedisError as exc:
            self.connected = False
            self._get_logger().error("Redis is unreachable (%s); this broadcast reaches this process's clients only",
                                     exc)
            if data.get("method") == "emit":
                self._handle_emit(data)

    def _redis_listen_with_retries(self):
        while True:
            try:
                self._redis_connect()
                self.pubsub.subscribe(self.channel)
                yield from self.pubsub.listen()
            except Exception as exc:  # noqa: BLE001  whatever Redis did, listen again soon
                self._get_logger().error("Cannot receive from Redis (%s); trying again in %gs", exc, RETRY)
                time.sleep(RETRY)


def ping(url):
    """None when Redis answers at ``url`` within the timeout, else what went wrong."""
    try:
        redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT).ping()
    except redis.RedisError as exc:
        return str(exc) or type(exc).__name__
    return None
