//! A token bucket per peer: how many messaging requests a peer may send, on average and in a
//! burst, before the node refuses them.

use std::time::Instant;

/// The rate a peer may send requests at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Requests per second, on average.
    pub per_sec: f64,
    /// Requests at once after a quiet spell.
    pub burst: u32,
}

/// One peer's bucket.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    tokens: f64,
    last: Instant,
    /// Requests refused since the bucket last had a token.
    refused: u32,
}

/// What the bucket says about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the rate.
    Allow,
    /// Over it: refuse.
    Refuse,
    /// Over it by a whole burst more: refuse, and count it against the peer.
    RefuseAndStrike,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: Rate, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: f64::from(rate.burst),
            last: now,
            refused: 0,
        }
    }

    /// Takes a token for a request at `now`. A peer that keeps sending past the rate is
    /// struck once per `burst` refused requests: a client that overruns a little is refused,
    /// one that floods is cut off after a few strikes.
    pub fn take(&mut self, rate: Rate, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * rate.per_sec).min(f64::from(rate.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused = 0;
            return Verdict::Allow;
        }
        self.refused += 1;
        if self.refused.is_multiple_of(rate.burst.max(1)) {
            Verdict::RefuseAndStrike
        } else {
            Verdict::Refuse
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const RATE: Rate = Rate {
        per_sec: 10.0,
        burst: 20,
    };

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(RATE, t0);
        for _ in 0..20 {
            assert_eq!(b.take(RATE, t0), Verdict::Allow);
        }
        assert_eq!(b.take(RATE, t0), Verdict::Refuse);
        // A second later, 10 more.
        let t1 = t0 + Duration::from_secs(1);
        let allowed = (0..30)
            .filter(|_| b.take(RATE, t1) == Verdict::Allow)
            .count();
        assert_eq!(allowed, 10);
        // A long quiet spell refills only up to the burst.
        let t2 = t1 + Duration::from_secs(3600);
        let allowed = (0..100)
            .filter(|_| b.take(RATE, t2) == Verdict::Allow)
            .count();
        assert_eq!(allowed, 20);
    }

    #[test]
    fn a_flood_is_struck_once_per_burst_of_refusals() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(RATE, t0);
        let verdicts: Vec<Verdict> = (0..20 + 200).map(|_| b.take(RATE, t0)).collect();
        let strikes = verdicts
            .iter()
            .filter(|v| **v == Verdict::RefuseAndStrike)
            .count();
        assert_eq!(strikes, 10);
        assert_eq!(verdicts[20], Verdict::Refuse);
    }
}
