//! The crate's log lines, routed to whichever backend is on (embassy's
//! pattern): `defmt`, `log`, or nothing.
//!
//! - `trace!` … `error!` go to `log` when the `log` feature is on, else to
//!   `defmt` when `defmt` is on, else nowhere. Their arguments must be
//!   `core::fmt::Display` (`{}`) or `Debug` (`{:?}`) and `defmt::Format`.
//!   A `target: …` given first goes to `log` (defmt has no targets).
//! - `host_debug!` … `host_warn!` are for the std-only `net` layer, whose
//!   arguments (socket addresses, `std::io::Error`) have no
//!   `defmt::Format`: they go to `log` or nowhere. Their target is the
//!   module path, or the one given first (`target: LOG_TARGET, …`): a
//!   module split into files keeps the target it had as one file.
//!
//! With no backend the lines expand to a borrow of each argument, so
//! nothing is evaluated, formatted or linked, and no variable is unused.
//!
//! With both features on, `log` wins when `std` is on (a host build, and
//! `--all-features`); without `std` enabling both is a compile error.
#![allow(unused_macros)]

#[cfg(all(feature = "defmt", feature = "log", not(feature = "std")))]
compile_error!(
    "msgwire: enable at most one of the `defmt` and `log` features without `std` \
     (with `std` on, `log` is used)"
);

macro_rules! __route {
    // defmt has no targets: the target goes to `log` alone.
    ($level:ident, target: $target:expr, $s:literal $(, $x:expr)* $(,)?) => {{
        #[cfg(feature = "log")]
        ::log::$level!(target: $target, $s $(, $x)*);
        #[cfg(all(feature = "defmt", not(feature = "log")))]
        {
            let _ = &$target;
            ::defmt::$level!($s $(, $x)*);
        }
        #[cfg(not(any(feature = "log", feature = "defmt")))]
        let _ = (&$target, $(&$x,)*);
    }};
    ($level:ident, $s:literal $(, $x:expr)* $(,)?) => {{
        #[cfg(feature = "log")]
        ::log::$level!($s $(, $x)*);
        #[cfg(all(feature = "defmt", not(feature = "log")))]
        ::defmt::$level!($s $(, $x)*);
        #[cfg(not(any(feature = "log", feature = "defmt")))]
        let _ = ($(&$x,)*);
    }};
}

macro_rules! __route_host {
    ($level:ident, target: $target:expr, $s:literal $(, $x:expr)* $(,)?) => {{
        #[cfg(feature = "log")]
        ::log::$level!(target: $target, $s $(, $x)*);
        #[cfg(not(feature = "log"))]
        let _ = (&$target, $(&$x,)*);
    }};
    ($level:ident, $s:literal $(, $x:expr)* $(,)?) => {{
        #[cfg(feature = "log")]
        ::log::$level!($s $(, $x)*);
        #[cfg(not(feature = "log"))]
        let _ = ($(&$x,)*);
    }};
}

macro_rules! trace {
    ($($t:tt)*) => { __route!(trace, $($t)*) };
}

macro_rules! debug {
    ($($t:tt)*) => { __route!(debug, $($t)*) };
}

macro_rules! info {
    ($($t:tt)*) => { __route!(info, $($t)*) };
}

macro_rules! warn {
    ($($t:tt)*) => { __route!(warn, $($t)*) };
}

macro_rules! error {
    ($($t:tt)*) => { __route!(error, $($t)*) };
}

macro_rules! host_debug {
    ($($t:tt)*) => { __route_host!(debug, $($t)*) };
}

macro_rules! host_info {
    ($($t:tt)*) => { __route_host!(info, $($t)*) };
}

macro_rules! host_warn {
    ($($t:tt)*) => { __route_host!(warn, $($t)*) };
}
