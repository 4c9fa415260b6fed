//! How a packet's total is divided into shares.
//!
//! The lucky split is the double-mean rule: each share is drawn uniformly between the minimum and twice
//! the remaining average less the minimum (so its mean is the remaining average), clamped so the shares
//! still to come can respect the minimum and the maximum; the last share takes the remainder. All shares
//! are drawn when the packet is sent and then shuffled, so the expected amount is exactly the same at
//! every claim position whatever the clamping does.

use rand_core::RngCore;

use crate::Amount;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("a packet needs at least one share")]
    NoShares,
    #[error("{total} cannot be split into {shares} shares of at least {min} and at most {max}")]
    OutOfBounds { total: Amount, shares: u32, min: Amount, max: Amount },
}

/// A uniform integer in `0..bound`, without modulo bias.
pub fn uniform_below(rng: &mut dyn RngCore, bound: u64) -> u64 {
    assert!(bound > 0, "uniform_below needs a positive bound");
    let rejection_zone = u64::MAX - (u64::MAX % bound);
    loop {
        let value = rng.next_u64();
        if value < rejection_zone {
            return value % bound;
        }
    }
}

/// Splits `total` into `shares` random shares by the double-mean rule, each within `[min, max]`,
/// summing exactly to `total`, in random order.
pub fn lucky_split(total: Amount, shares: u32, min: Amount, max: Amount, rng: &mut dyn RngCore) -> Result<Vec<Amount>, SplitError> {
    if shares == 0 {
        return Err(SplitError::NoShares);
    }
    let (total_units, min_units, max_units) = (total.minor_units(), min.minor_units(), max.minor_units());
    let n = i64::from(shares);
    if min_units > max_units || total_units < min_units * n || total_units > max_units * n {
        return Err(SplitError::OutOfBounds { total, shares, min, max });
    }
    let mut drawn = Vec::with_capacity(shares as usize);
    let mut remaining = total_units;
    for taken in 0..n - 1 {
        let left = n - taken;
        let lowest = min_units.max(remaining - (left - 1) * max_units);
        let highest_for_rest = remaining - (left - 1) * min_units;
        let double_mean = 2 * remaining / left - min_units;
        let highest = max_units.min(highest_for_rest).min(double_mean).max(lowest);
        let share = lowest + uniform_below(rng, (highest - lowest + 1) as u64) as i64;
        drawn.push(share);
        remaining -= share;
    }
    drawn.push(remaining);
    shuffle(&mut drawn, rng);
    Ok(drawn.into_iter().map(|units| Amount::new(units).expect("every share lies within [min, max]")).collect())
}

/// `shares` equal shares of `per_share` each.
pub fn equal_split(per_share: Amount, shares: u32) -> Vec<Amount> {
    vec![per_share; shares as usize]
}

/// Fisher–Yates shuffle.
fn shuffle<T>(items: &mut [T], rng: &mut dyn RngCore) {
    for last in (1..items.len()).rev() {
        let pick = uniform_below(rng, last as u64 + 1) as usize;
        items.swap(last, pick);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn amount(units: i64) -> Amount {
        Amount::new(units).expect("valid amount")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn shares_sum_to_total_within_bounds(shares in 1u32..=120, min in 1i64..=50, spread in 0i64..=30_000, fill in 0.0f64..=1.0, seed: u64) {
            let max = min + spread;
            let n = i64::from(shares);
            // Any total the bounds allow, from all-minimum to all-maximum.
            let total = min * n + ((max - min) as f64 * n as f64 * fill) as i64;
            let mut rng = StdRng::seed_from_u64(seed);
            let split = lucky_split(amount(total), shares, amount(min), amount(max), &mut rng).expect("feasible");
            prop_assert_eq!(split.len(), shares as usize);
            prop_assert_eq!(split.iter().map(|share| share.minor_units()).sum::<i64>(), total);
            for share in &split {
                prop_assert!(share.minor_units() >= min && share.minor_units() <= max, "{share:?} outside [{min}, {max}]");
            }
        }
    }

    #[test]
    fn infeasible_totals_are_refused() {
        let mut rng = StdRng::seed_from_u64(1);
        assert!(lucky_split(amount(9), 10, amount(1), amount(100), &mut rng).is_err());
        assert!(lucky_split(amount(1001), 10, amount(1), amount(100), &mut rng).is_err());
        assert!(lucky_split(amount(10), 0, amount(1), amount(100), &mut rng).is_err());
        assert_eq!(lucky_split(amount(10), 10, amount(1), amount(100), &mut rng), Ok(vec![amount(1); 10]));
    }
}
