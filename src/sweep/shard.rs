//! `--shard I/N`: the I-th of N shares of a plan (I from 0, as Slurm array task ids from 0 and
//! Kubernetes completion indexes count), the same in every process that computes it.

use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// Shares a plan may be cut into: more than its runs could ever use is a typo.
pub const MAX_SHARDS: usize = super::spec::MAX_RUNS;

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}`: expected --shard I/N with 0 <= I < N, e.g. 0/4 (I counts from 0)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) =
            (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        if count > MAX_SHARDS {
            return Err(format!("`{s}`: at most {MAX_SHARDS} shards (no plan has more runs than that)"));
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard of each task, balancing the estimated cost: tasks in order of cost (largest
/// first, ties by position) each go to the shard with the least so far (longest processing
/// time first). Deterministic in the costs alone.
pub fn assign(costs: &[f64], shards: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then(a.cmp(&b)));
    let mut load = vec![0.0f64; shards];
    let mut owner = vec![0; costs.len()];
    for i in order {
        let s = (0..shards).min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b))).unwrap_or(0);
        load[s] += costs[i].max(0.0);
        owner[i] = s;
    }
    owner
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["4/4", "1/0", "x/2", "3", "-1/2"] {
            assert!(bad.parse::<Shard>().unwrap_err().contains("I/N"), "{bad}");
        }
        assert!("0/4000000000".parse::<Shard>().unwrap_err().contains("at most 100000 shards"));
    }

    #[test]
    fn balances_costs() {
        let costs = [10.0, 1.0, 1.0, 1.0, 9.0, 1.0, 1.0];
        let owner = assign(&costs, 2);
        let load = |s| costs.iter().zip(&owner).filter(|(_, o)| **o == s).map(|(c, _)| c).sum::<f64>();
        assert!((load(0) - load(1)).abs() <= 1.0, "{owner:?}");
    }
}
