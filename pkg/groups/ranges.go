package groups

import "slices"

// Range is the offsets [From, To) of one topic.
type Range struct{ From, To uint64 }

// Len is the number of offsets in r.
func (r Range) Len() uint64 {
	if r.To <= r.From {
		return 0
	}
	return r.To - r.From
}

// rangeSet is a sorted list of disjoint, non-adjacent, non-empty ranges.
type rangeSet []Range

// add merges r into s.
func (s rangeSet) add(r Range) rangeSet {
	if r.Len() == 0 {
		return s
	}
	out := make(rangeSet, 0, len(s)+1)
	for _, x := range s {
		switch {
		case x.To < r.From:
			out = append(out, x)
		case r.To < x.From:
			out = append(out, r)
			r = x
		default: // overlapping or adjacent: merge into r
			r = Range{min(r.From, x.From), max(r.To, x.To)}
		}
	}
	return append(out, r)
}

// sub removes r from s.
func (s rangeSet) sub(r Range) rangeSet {
	if r.Len() == 0 {
		return s
	}
	out := make(rangeSet, 0, len(s)+1)
	for _, x := range s {
		if x.To <= r.From || r.To <= x.From {
			out = append(out, x)
			continue
		}
		if x.From < r.From {
			out = append(out, Range{x.From, r.From})
		}
		if r.To < x.To {
			out = append(out, Range{r.To, x.To})
		}
	}
	return out
}

// minus is the parts of r not in s, in order.
func (s rangeSet) minus(r Range) rangeSet {
	return rangeSet{r}.subAll(s)
}

func (s rangeSet) subAll(o rangeSet) rangeSet {
	for _, r := range o {
		s = s.sub(r)
	}
	return slices.Clip(s)
}

// covers reports whether r lies wholly inside s.
func (s rangeSet) covers(r Range) bool {
	return len(s.minus(r)) == 0
}
