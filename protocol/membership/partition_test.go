package membership

import (
	"errors"
	"strings"
	"testing"
)

func TestTheLeadMemberWeighsMoreAndLossesCountOnlyMembers(t *testing.T) {
	c := DefaultPartitionConfig()
	members := []Member{{ID: 0}, {ID: 1}, {ID: 2}, {ID: 3}}
	if c.Weight(members, members[0]) != 15 || c.Weight(members, members[2]) != 10 {
		t.Fatal("weights are not GemFire's 10, and 15 for the lead member")
	}
	// Losing the lead and one more: 25 of 45, at least half.
	if lost, total := c.Loss(members, []Member{{ID: 0}, {ID: 3}}); lost != 25 || total != 45 {
		t.Fatalf("Loss = %d of %d, want 25 of 45", lost, total)
	}
	// An earlier incarnation, or a non-member, weighs nothing.
	if lost, _ := c.Loss(members, []Member{{ID: 1, Inc: 1}, {ID: 9}}); lost != 0 {
		t.Fatalf("removing non-members lost %d", lost)
	}
}

func TestPartitionConfigRejectsBadValues(t *testing.T) {
	for _, c := range []PartitionConfig{{Rule: 7}, {Rule: WeightedQuorum, MemberWeight: -1}, {Rule: WeightedQuorum}} {
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "Partition.") {
			t.Errorf("%+v: Validate() = %v, want an error naming the field", c, err)
		}
	}
	if err := (PartitionConfig{Rule: 7}).Validate(); !errors.Is(err, ErrUnknownPartitionRule) {
		t.Errorf("an unknown rule gave %v", err)
	}
	if r, err := ParsePartitionRule("weights"); err != nil || r != WeightedQuorum {
		t.Fatalf("ParsePartitionRule(weights) = %v, %v", r, err)
	}
	if _, err := ParsePartitionRule("majority"); !errors.Is(err, ErrUnknownPartitionRule) || !strings.Contains(err.Error(), `"majority"`) {
		t.Fatalf("an unknown name gave %v", err)
	}
}
