//! A `Stream` over an mpsc receiver (what `tokio-stream`'s wrapper does), to avoid a dependency.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

pub struct ReceiverStream<T>(mpsc::Receiver<T>);

impl<T> ReceiverStream<T> {
    pub fn new(receiver: mpsc::Receiver<T>) -> Self {
        ReceiverStream(receiver)
    }
}

impl<T> futures::Stream for ReceiverStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}
