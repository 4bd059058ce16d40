package vs

import (
	"sync"

	"github.com/atoll-gcs/atoll/client"
)

// LeaderChange reports a new leader of a group.
type LeaderChange struct {
	Group string
	// Leader is the oldest member of the new regular view ("" when the
	// view is empty).
	Leader string
	// Self is true when Leader is this member.
	Self bool
	// ViewID is the regular view that made the change.
	ViewID string
}

// Leader tracks the regular views of one group and says who leads it:
// the oldest member, Members[0]. Every member sees the same regular views
// in the same order, so every member names the same leader in the same
// view, without exchanging a message. Transitional views are ignored: the
// leader changes with the regular view that follows them.
//
// Leader does not read the client's events itself; the program's event
// loop hands it the views (Observe). Its methods are safe for concurrent
// use.
type Leader struct {
	group, self string
	onChange    func(LeaderChange)

	mu     sync.Mutex
	leader string
	viewID string
}

// NewLeader returns a tracker of group's leader for member self (the
// client's Name). onChange, if not nil, is called from Observe each time
// the leader changes, including the first regular view.
func NewLeader(group, self string, onChange func(LeaderChange)) *Leader {
	return &Leader{group: group, self: self, onChange: onChange}
}

// Observe takes a view of the client. Views of other groups and
// transitional views are ignored. It reports whether the leader changed.
func (l *Leader) Observe(v *client.View) bool {
	if v == nil || v.Group != l.group || v.Transitional {
		return false
	}
	l.mu.Lock()
	first := l.viewID == ""
	l.viewID = v.ID
	next := v.Leader()
	changed := first || next != l.leader
	l.leader = next
	l.mu.Unlock()
	if changed && l.onChange != nil {
		l.onChange(LeaderChange{Group: l.group, Leader: next, Self: next == l.self, ViewID: v.ID})
	}
	return changed
}

// Current returns the leader of the last regular view observed and
// whether it is this member.
func (l *Leader) Current() (leader string, self bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leader, l.leader != "" && l.leader == l.self
}
