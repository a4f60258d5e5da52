//! The payment model shared by every role: the two wire formats consumed by the ingester,
//! the validation that turns a raw record into a [`Payment`] or a [`Rejection`], the demo
//! reference data and deterministic ids. Nothing here performs I/O, so all of it is unit-tested.

pub mod dashboard;
pub mod demo;
pub mod event;
pub mod fields;
pub mod import;
pub mod money;
pub mod object_key;
pub mod reference;
pub mod suspicion;
pub mod time;
pub mod totals;
pub mod validate;
pub mod words;

#[cfg(test)]
mod properties;

pub use event::{ImportEvent, StreamEvent};
pub use fields::ImportFields;
pub use reference::ReferenceData;
pub use suspicion::{Suspicion, Suspicions};
pub use totals::{
    CurrencyTotal, ExpectedTotals, ImportTotals, InvalidRowsPolicy, RowFigures, Totals,
    TotalsBuilder, TotalsDifference,
};
pub use validate::{
    check_import_fields, check_import_row, validate, Fingerprint, Invalid, Payment, Rejection,
    Source, Status, MAX_PAYLOAD_BYTES,
};
