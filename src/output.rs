//! How a behaviour's return value splits into a value or an error.

use std::convert::Infallible;

/// What a behaviour (control or candidate) may return in an experiment over values `T` and
/// errors `E`.
///
/// Two shapes are supported, and the experiment's type decides which:
///
/// * In an `Experiment<T>` (errors are [`Infallible`]) a behaviour returns a plain `T`.
/// * In an `Experiment<T, E>` a behaviour returns `Result<T, E>`: an `Err` is recorded as an
///   error outcome, compared with the experiment's error comparator, and the control's `Err` is
///   handed back to the caller unchanged.
///
/// You never implement this trait; it exists so that one `run` method serves both shapes.
pub trait BehaviorOutput<T, E>: Sized {
    /// Splits the output into the value or the error.
    fn into_result(self) -> Result<T, E>;
    /// Rebuilds the output from a value or an error.
    fn from_result(result: Result<T, E>) -> Self;
}

impl<T> BehaviorOutput<T, Infallible> for T {
    #[inline]
    fn into_result(self) -> Result<T, Infallible> {
        Ok(self)
    }

    #[inline]
    fn from_result(result: Result<T, Infallible>) -> Self {
        match result {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }
}

impl<T, E> BehaviorOutput<T, E> for Result<T, E> {
    #[inline]
    fn into_result(self) -> Result<T, E> {
        self
    }

    #[inline]
    fn from_result(result: Result<T, E>) -> Self {
        result
    }
}
