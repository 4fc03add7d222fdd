package membership

import (
	"errors"
	"fmt"
	"strings"
)

// The network partition rule, as GemFire's membership applies it. Without a rule, a partition
// longer than the failure-detection timeout splits the cluster: each side suspects the other,
// removes it (or, without the coordinator, takes over) and goes on serving from its own view, so
// both sides acknowledge writes and serve reads that the other never sees (split brain). With the
// weighted rule, every member carries a weight (GemFire's defaults: a cache server 10, the lead
// member 5 more; here the lead member is the oldest member, the coordinator, since the cluster has
// no locators); a coordinator, or a member taking over, that is about to publish a view removing at
// least half of the previous view's weight at once shuts its side down instead. At most one side
// of a partition can keep at least half of the weight, so at most one side goes on serving. Losses
// spread over several view changes do not count together: a cluster that shrinks one crash at a
// time keeps serving, as GemFire's does. The store applies the rule (protocol/kv, partition.go).

// ErrUnknownPartitionRule is the sentinel of ParsePartitionRule.
var ErrUnknownPartitionRule = errors.New("unknown partition rule")

// PartitionRule says what a view change that loses much of the cluster at once does.
type PartitionRule int

const (
	// NoQuorum is the rule of a cluster without partition detection: every view change goes ahead,
	// whatever it loses (split brain under long partitions; kept for study). It is the zero value,
	// so a configuration written before the rule existed keeps its behaviour.
	NoQuorum PartitionRule = iota
	// WeightedQuorum shuts down the side of a view change that loses at least half of the previous
	// view's weight at once (GemFire's network partition detection).
	WeightedQuorum
)

var partitionRuleNames = [...]string{"none", "weights"}

func (r PartitionRule) String() string {
	if r >= 0 && int(r) < len(partitionRuleNames) {
		return partitionRuleNames[r]
	}
	return fmt.Sprintf("PartitionRule(%d)", int(r))
}

// ParsePartitionRule turns "none" or "weights" into a PartitionRule.
func ParsePartitionRule(name string) (PartitionRule, error) {
	for i, n := range partitionRuleNames {
		if n == name {
			return PartitionRule(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q (known: %s)", ErrUnknownPartitionRule, name, strings.Join(partitionRuleNames[:], ", "))
}

// MarshalText writes the rule's name.
func (r PartitionRule) MarshalText() ([]byte, error) {
	if r < 0 || int(r) >= len(partitionRuleNames) {
		return nil, fmt.Errorf("%w: PartitionRule(%d)", ErrUnknownPartitionRule, int(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText reads a rule name ("none", "weights").
func (r *PartitionRule) UnmarshalText(b []byte) error {
	v, err := ParsePartitionRule(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// PartitionConfig is the partition rule and the members' weights.
type PartitionConfig struct {
	Rule PartitionRule
	// MemberWeight is every member's weight; LeadMemberBonus is added for the lead member (the
	// oldest member of the view). GemFire's defaults are 10 and 5.
	MemberWeight    int
	LeadMemberBonus int
}

// DefaultPartitionConfig is GemFire's: the weighted rule with weights 10 and 5 more for the lead.
func DefaultPartitionConfig() PartitionConfig {
	return PartitionConfig{Rule: WeightedQuorum, MemberWeight: 10, LeadMemberBonus: 5}
}

// Validate reports the first field that cannot be honoured, named as Partition.Field.
func (c PartitionConfig) Validate() error {
	switch {
	case c.Rule < 0 || int(c.Rule) >= len(partitionRuleNames):
		return fmt.Errorf("Partition.Rule=%d: %w", int(c.Rule), ErrUnknownPartitionRule)
	case c.MemberWeight < 0:
		return fmt.Errorf("Partition.MemberWeight=%d is negative", c.MemberWeight)
	case c.LeadMemberBonus < 0:
		return fmt.Errorf("Partition.LeadMemberBonus=%d is negative", c.LeadMemberBonus)
	case c.Rule == WeightedQuorum && c.MemberWeight == 0 && c.LeadMemberBonus == 0:
		return errors.New("Partition.MemberWeight and Partition.LeadMemberBonus are both 0: the weighted rule needs a weight to count")
	}
	return nil
}

// Weight is m's weight in a view whose members, oldest first, are members.
func (c PartitionConfig) Weight(members []Member, m Member) int {
	if len(members) > 0 && members[0] == m {
		return c.MemberWeight + c.LeadMemberBonus
	}
	return c.MemberWeight
}

// Loss is the weight that removing removed takes away from a view of members, and the view's
// whole weight.
func (c PartitionConfig) Loss(members, removed []Member) (lost, total int) {
	for _, m := range members {
		total += c.Weight(members, m)
	}
	for _, m := range removed {
		for _, x := range members {
			if x == m {
				lost += c.Weight(members, m)
				break
			}
		}
	}
	return lost, total
}
