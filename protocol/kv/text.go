package kv

import "fmt"

// Text forms of the configuration's enumerations, so that a Config written as JSON (in a trace
// header, a sweep line, a scenario file) names its strategy, source choice and mutants rather than
// numbers whose meaning would change if a list were reordered.

// MarshalText writes the strategy's name.
func (s Strategy) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(strategyNames) {
		return nil, fmt.Errorf("%w: Strategy(%d)", ErrUnknownStrategy, int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a strategy name ("state-flush", "blocking", "naive").
func (s *Strategy) UnmarshalText(b []byte) error {
	v, err := ParseStrategy(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText writes the source choice's name.
func (c SourceChoice) MarshalText() ([]byte, error) {
	if c < 0 || int(c) >= len(sourceChoiceNames) {
		return nil, fmt.Errorf("%w: SourceChoice(%d)", ErrUnknownSourceChoice, int(c))
	}
	return []byte(c.String()), nil
}

// UnmarshalText reads a source choice name ("prefer-primary", "prefer-non-primary").
func (c *SourceChoice) UnmarshalText(b []byte) error {
	v, err := ParseSourceChoice(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// MarshalText writes the comma-separated mutant names ("" for none).
func (s Mutants) MarshalText() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a comma-separated list of mutant names.
func (s *Mutants) UnmarshalText(b []byte) error {
	v, err := ParseMutants(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
