//! How an import's file is read: a plain file, or a correction of an earlier import's rows
//! that did not land.

use std::collections::HashSet;
use std::io::Read;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use payments_csv::{ImportError, ImportRef, OnValid, Options, Resolved, Summary};
use payments_domain::ReferenceData;
use uuid::Uuid;

use crate::{Pipeline, PipelineError, Result};

/// The options a file is read with and, for a correction, what it corrects.
#[derive(Clone)]
pub(crate) struct Reading {
    pub(crate) options: Options,
    corrects: Option<Corrects>,
}

#[derive(Clone)]
struct Corrects {
    /// The corrected import's file: its rows' transaction ids are the corrections'.
    sha256: String,
    /// Rows of it that did not land: the only ones a correction may replace.
    rows: Arc<HashSet<u64>>,
}

impl Reading {
    /// Checks every row (and, for a correction, what it replaces) and finds duplicates.
    pub(crate) fn analyse<R: Read>(
        &self,
        reader: R,
        refs: &ReferenceData,
        now: DateTime<Utc>,
    ) -> Result<(Summary, Resolved), ImportError> {
        self.analyse_with(reader, refs, now, &mut |_, _, _| {})
    }

    /// [`Self::analyse`], handing each valid row to `on_valid` as it is read.
    pub(crate) fn analyse_with<R: Read>(
        &self,
        reader: R,
        refs: &ReferenceData,
        now: DateTime<Utc>,
        on_valid: OnValid<'_>,
    ) -> Result<(Summary, Resolved), ImportError> {
        let may_correct = self
            .corrects
            .as_ref()
            .map(|c| move |row: u64| c.rows.contains(&row));
        let analysis = payments_csv::Analysis::new(&self.options)
            .checked(refs, now)
            .on_valid(on_valid);
        match may_correct.as_ref() {
            Some(may_correct) => analysis.corrections(may_correct).run(reader),
            None => analysis.run(reader),
        }
    }

    /// Who the events of import `id` are from.
    pub(crate) fn import_ref<'a>(
        &'a self,
        id: Uuid,
        file_name: &'a str,
        sha256: &'a str,
    ) -> ImportRef<'a> {
        ImportRef {
            import_id: id,
            source_file: file_name,
            sha256_hex: sha256,
            corrects: self.corrects.as_ref().map(|c| c.sha256.as_str()),
        }
    }
}

impl Pipeline {
    /// How to read a file that corrects `corrects` (or a plain one): refused when there is no
    /// such import, it has no stored file, or it is a correction itself (correct the original).
    pub(crate) async fn reading(&self, corrects: Option<Uuid>) -> Result<Reading> {
        let Some(original) = corrects else {
            return Ok(Reading {
                options: self.options.clone(),
                corrects: None,
            });
        };
        let refuse = |why: String| Err(PipelineError::CannotCorrect(why));
        let import = match self.status(original).await {
            Ok(import) => import,
            Err(PipelineError::NotFound(_)) => {
                return refuse(format!("there is no import {original} to correct"))
            }
            Err(e) => return Err(e),
        };
        if let Some(first) = import.corrects_import_id {
            return refuse(format!(
                "import {original} is a correction itself: correct import {first} instead"
            ));
        }
        let Some(sha256) = import.sha256.clone() else {
            return refuse(format!("import {original} has no stored file to correct"));
        };
        let rows = Arc::new(Mutex::new(HashSet::new()));
        let into = rows.clone();
        // Boxed: listing a correction's own rows asks for its reading, which lists these.
        Box::pin(self.unlanded(original, move |row| {
            into.lock()
                .map_err(|_| std::io::Error::other("the row set broke"))?
                .insert(row.row);
            Ok(())
        }))
        .await?;
        let rows = rows
            .lock()
            .map(|rows| rows.clone())
            .map_err(|_| PipelineError::Task("the row set broke".into()))?;
        Ok(Reading {
            options: Options {
                correction: true,
                ..self.options.clone()
            },
            corrects: Some(Corrects {
                sha256,
                rows: Arc::new(rows),
            }),
        })
    }
}
