"""Graceful shutdown: on SIGTERM, drain, then give back the jobs still running.

Dramatiq's own stop sequence (``Worker.stop``): every worker thread finishes its
current message and takes no other, the consumers keep the broker heartbeat
alive meanwhile, messages prefetched but not started are requeued at the end,
and the process waits at most ``--worker-shutdown-timeout`` for all of it.
This middleware turns that into a policy:

1. At once: the process fetches no more messages, and gives back the ones it
   had prefetched but not started, so that other workers take them now rather
   than after the drain. :meth:`draining` is True from here on: a job that has
   not started yet (e.g. it was waiting for a GPU lease) is returned unstarted.
2. For ``drain`` seconds (WORKER_SHUTDOWN_TIMEOUT) running jobs may finish.
3. Then :meth:`stopping` turns True: the task sees it through its context
   (``ctx.check()`` raises WorkerStopping, ``ctx.should_stop()`` is True) and the
   runner puts the job back in the queue (status ``queued``, attempt counted) for
   another worker. Nothing ends ``failed`` because a worker stopped.
4. ``STOP_GRACE`` seconds later a job still running (its task never checks its
   context) is interrupted with Dramatiq's ``Shutdown`` exception and requeued
   the same way.

Actors opt in with the actor option ``requeue_on_shutdown=True``; other actors
(webhook delivery, seconds long) simply finish. ``requeue(message)`` gives back
a message that was interrupted before the runner could (a Shutdown that struck
in another middleware). The parts of Dramatiq used here (the worker's work
queue, a consumer's prefetch, the ``fetch`` command as a heartbeat) are those
of the pinned Dramatiq version's Redis broker.
"""

from __future__ import annotations

import logging
import threading
import time
from queue import Empty
from typing import Callable

from dramatiq import Middleware
from dramatiq.middleware import Shutdown
from dramatiq.middleware.threading import raise_thread_exception

log = logging.getLogger(__name__)

#: Seconds a job gets, once asked to stop, to return to the queue before it is interrupted.
STOP_GRACE = 30.0
#: Seconds for the bookkeeping after that (requeue, acks, closing connections).
EXIT_MARGIN = 15.0
#: Seconds between two passes that give back prefetched messages and keep the heartbeat.
PASS_INTERVAL = 1.0


def dramatiq_shutdown_timeout(drain: float) -> float:
    """Seconds Dramatiq must wait for its threads when the drain is ``drain`` s; the pod's
    termination grace period must be longer still."""
    return drain + STOP_GRACE + EXIT_MARGIN


class GracefulShutdown(Middleware):
    """Parameters:
      drain: seconds running jobs get to finish after SIGTERM (WORKER_SHUTDOWN_TIMEOUT).
      requeue: ``requeue(message)`` gives back the job of an interrupted message.
      stop_grace: seconds between asking jobs to stop and interrupting them.
    """

    actor_options = {"requeue_on_shutdown"}

    def __init__(self, drain: float, requeue: Callable | None = None, stop_grace: float = STOP_GRACE):
        self.drain = drain
        self.requeue = requeue
        self.stop_grace = stop_grace
        self._draining = threading.Event()
        self._stopping = threading.Event()
        self._running: dict[int, str] = {}  # thread id -> message id, for opted-in actors
        self._lock = threading.Lock()

    def draining(self) -> bool:
        """True once this process was asked to stop (SIGTERM)."""
        return self._draining.is_set()

    def stopping(self) -> bool:
        """True once the drain is over: running jobs should go back to the queue."""
        return self._stopping.is_set()

    def _opted_in(self, broker, message) -> bool:
        return bool(broker.get_actor(message.actor_name).options.get("requeue_on_shutdown"))

    def before_process_message(self, broker, message):
        if self._opted_in(broker, message):
            with self._lock:
                self._running[threading.get_ident()] = message.message_id

    def after_process_message(self, broker, message, *, result=None, exception=None):
        with self._lock:
            self._running.pop(threading.get_ident(), None)
        if isinstance(exception, Shutdown) and self.requeue is not None and self._opted_in(broker, message):
            log.info("message %s was interrupted by the shutdown; its job goes back to the queue",
                     message.message_id)
            self.requeue(message)

    after_skip_message = after_process_message

    def before_worker_shutdown(self, broker, worker):
        log.info("stopping: no new messages; running jobs get %.0f s to finish, then go back to the queue",
                 self.drain)
        self._draining.set()
        for consumer_thread in list(getattr(worker, "consumers", {}).values()):
            _stop_fetching(consumer_thread)
        threading.Thread(target=self._run_drain, args=(broker, worker), name="c3-shutdown", daemon=True).start()

    def _run_drain(self, broker, worker) -> None:
        end = time.monotonic() + self.drain
        while True:
            _give_back_prefetched(worker)
            _heartbeat(broker, worker)
            left = end - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(PASS_INTERVAL, left))
        with self._lock:
            running = len(self._running)
        if running:
            log.warning("drain over: asking %d running job(s) to go back to the queue", running)
        self._stopping.set()
        end = time.monotonic() + self.stop_grace
        while time.monotonic() < end:
            _give_back_prefetched(worker)
            _heartbeat(broker, worker)
            with self._lock:
                if not self._running:
                    return
            time.sleep(min(PASS_INTERVAL, max(0.0, end - time.monotonic())))
        with self._lock:
            stuck = list(self._running)
        for thread_id in stuck:
            log.warning("interrupting worker thread %d: its job did not stop within %.0f s", thread_id,
                        self.stop_grace)
            raise_thread_exception(thread_id, Shutdown)


def _stop_fetching(consumer_thread) -> None:
    """Make a consumer thread fetch nothing more (its consumer, and any it restarts)."""
    consumer_thread.prefetch = 0
    consumer = getattr(consumer_thread, "consumer", None)
    if consumer is not None:
        consumer.prefetch = 0


def _give_back_prefetched(worker) -> None:
    """Requeue the messages waiting in the process's work queue (fetched, never started)."""
    work_queue = getattr(worker, "work_queue", None)
    if work_queue is None:
        return
    while True:
        try:
            item = work_queue.get_nowait()
        except Empty:
            return
        message = item.message
        try:
            worker.consumers[message.queue_name].requeue_messages([message])
            log.info("gave back prefetched message %s (%s)", message.message_id, message.queue_name)
        except Exception:
            log.warning("could not give back message %s; Dramatiq requeues it at exit", message.message_id,
                        exc_info=True)
            work_queue.put(item)
            return
        finally:
            work_queue.task_done()


def _heartbeat(broker, worker) -> None:
    """Keep this process alive in the broker's eyes while it fetches nothing.

    The Redis broker counts a worker alive while it sends commands; a consumer with
    nothing to fetch sends none, and after BROKER_HEARTBEAT_TIMEOUT other workers would
    requeue the jobs still running here. A fetch of zero messages is such a command.
    """
    fetch = getattr(broker, "do_fetch", None)
    queues = list(getattr(worker, "consumers", {}))
    if fetch is None or not queues:
        return
    try:
        fetch(queues[0], 0)
    except Exception:
        log.warning("broker heartbeat failed", exc_info=True)
