package delivery

import (
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/event"
)

// keyedQueue keeps one event in flight per partition key; the others of the
// same key wait, in arrival (stream) order, behind it.
type keyedQueue struct {
	mu     sync.Mutex
	queues map[string][]jetstream.Msg
}

func newKeyedQueue() *keyedQueue { return &keyedQueue{queues: map[string][]jetstream.Msg{}} }

// push reports true when msg may go now (its key was idle); otherwise msg is
// queued behind the key's event in flight.
func (q *keyedQueue) push(key string, msg jetstream.Msg) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	waiting, busy := q.queues[key]
	if busy {
		q.queues[key] = append(waiting, msg)
		return false
	}
	q.queues[key] = nil
	return true
}

// next returns the key's next event, or nil and marks the key idle.
func (q *keyedQueue) next(key string) jetstream.Msg {
	q.mu.Lock()
	defer q.mu.Unlock()
	waiting := q.queues[key]
	if len(waiting) == 0 {
		delete(q.queues, key)
		return nil
	}
	q.queues[key] = waiting[1:]
	return waiting[0]
}

// partitionKey is the event's partitionkey extension; events without one are
// independent of each other (each is its own key).
func partitionKey(msg jetstream.Msg) string {
	ev, err := event.Decode(msg.Data())
	if err == nil {
		if k, ok := ev.Extensions["partitionkey"].(string); ok && k != "" {
			return "k:" + k
		}
	}
	return "id:" + msg.Headers().Get("Ce-Id") + ":" + msg.Reply()
}
