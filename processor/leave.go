package processor

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// LeaveGroup removes static members (by group instance id) from group, so
// the remaining members take their tasks in the next rebalance instead of
// after the session timeout. A static member's client never leaves on its
// own (franz-go, like Kafka's, keeps it in the group across a restart), so
// this is how a member that stopped for good — a scale-in — gives its
// tasks away. It is idempotent: an id that is not a member (never joined,
// already left, expired) is reported in absent, not as an error.
func LeaveGroup(ctx context.Context, adm *kadm.Client, group, reason string, instanceIDs ...string) (left, absent []string, err error) {
	if len(instanceIDs) == 0 {
		return nil, nil, errors.New("no instance id to remove")
	}
	resps, err := adm.LeaveGroup(ctx, kadm.LeaveGroup(group).InstanceIDs(instanceIDs...).Reason(reason))
	if err != nil {
		if errors.Is(err, kerr.GroupIDNotFound) {
			return nil, instanceIDs, nil // no group: nobody to remove
		}
		return nil, nil, fmt.Errorf("removing %v from group %s: %w", instanceIDs, group, err)
	}
	var errs []error
	for _, r := range resps.Sorted() {
		switch {
		case r.Err == nil:
			left = append(left, r.InstanceID)
		case errors.Is(r.Err, kerr.UnknownMemberID), errors.Is(r.Err, kerr.GroupIDNotFound):
			absent = append(absent, r.InstanceID)
		default:
			errs = append(errs, fmt.Errorf("removing %s from group %s: %w", r.InstanceID, group, r.Err))
		}
	}
	return left, absent, errors.Join(errs...)
}
