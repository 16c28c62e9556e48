package phi

import (
	"math"
	"time"
)

// Coefficients of the logistic approximation of the standard normal CDF,
// Φ(y) ≈ 1 / (1 + exp(-y·(c1 + c2·y²))), accurate to about 1.4e-4 (Bowling
// et al., "A logistic approximation to the cumulative normal distribution",
// 2009); the approximation Akka and Cassandra use for phi.
const (
	logisticC1 = 1.5976
	logisticC2 = 0.070566
)

// Phi returns the suspicion level for a silence of elapsed since the last
// heartbeat, when heartbeat intervals are modelled as normal with the given
// mean and standard deviation:
//
//	y   = (elapsed - mean) / stddev
//	a   = y·(1.5976 + 0.070566·y²)
//	P   = P(interval > elapsed) ≈ 1 / (1 + exp(a))
//	phi = -log10(P) = log10(1 + exp(a))
//
// phi is log10(2) ≈ 0.30 at elapsed == mean, tends to 0 for a silence much
// shorter than the mean, and grows without bound (roughly as y³) after it;
// it increases monotonically with elapsed. It is computed in log space so it
// stays finite for any finite input instead of overflowing to +Inf.
//
// stddev <= 0 has no distribution; Phi treats it as a step: 0 while
// elapsed <= mean, +Inf after. History.Phi never passes it, because it
// floors the deviation (see minStddev).
func Phi(elapsed, mean, stddev time.Duration) float64 {
	if stddev <= 0 {
		if elapsed <= mean {
			return 0
		}
		return math.Inf(1)
	}
	y := (float64(elapsed) - float64(mean)) / float64(stddev)
	a := y * (logisticC1 + logisticC2*y*y)
	// log(1+e^a) = a + log(1+e^-a): the second form for a > 0 keeps exp
	// from overflowing, the first for a <= 0 keeps precision near zero.
	if a > 0 {
		return (a + math.Log1p(math.Exp(-a))) / math.Ln10
	}
	return math.Log1p(math.Exp(a)) / math.Ln10
}
