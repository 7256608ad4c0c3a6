//! IoBinding: a graph that runs many times with the same shapes (the denoiser over a window's
//! steps) keeps its inputs and outputs in tensors ONNX Runtime owns, allocated once.
//!
//! - On the CPU the caller writes the inputs straight into the bound tensors and reads the
//!   outputs from them: no tensor is created or allocated per run. An input is bound again after
//!   each write (one C call, the same buffer): ONNX Runtime may copy an input at bind time (for a
//!   node on another device), and `ort` only promises that a bound value is read as it was bound.
//! - On CUDA / TensorRT every bound tensor lives on the device. Inputs that do not change
//!   between runs (the text embeddings) are uploaded once per window; the latents and timesteps
//!   go up and the velocity comes back through pinned host buffers (one DMA copy each way per
//!   step: the scheduler's update runs on the host). Device addresses stay fixed for as long as
//!   the binding lives, which is what CUDA graphs need.

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::{IoBinding, RunOptions, Session};
use ort::value::Tensor;

use super::Device;

/// One bound tensor: the host side the caller touches and, on a GPU, its device twin.
enum Buffer {
    F32 { host: Tensor<f32>, device: Option<Tensor<f32>> },
    I64 { host: Tensor<i64>, device: Option<Tensor<i64>> },
}

struct Slot {
    name: String,
    shape: Vec<usize>,
    output: bool,
    buffer: Buffer,
}

/// A session's inputs and outputs bound to preallocated tensors (see the module docs).
pub struct BoundRun {
    // Fields drop in order: the tensors, their allocators, then the binding (which holds the session).
    slots: Vec<Slot>,
    host_alloc: Allocator,
    device_alloc: Option<Allocator>,
    /// Set when the session runs with CUDA graphs: each binding replays its own captured graph.
    run_options: Option<RunOptions>,
    binding: IoBinding,
}

fn gpu_index(device: Device) -> Option<i32> {
    match device {
        Device::Cuda(i) | Device::TensorRt(i) => Some(i as i32),
        Device::Cpu | Device::Auto => None,
    }
}

impl BoundRun {
    pub(super) fn new(session: &Session, device: Device, graph_id: Option<usize>) -> ort::Result<Self> {
        let binding = session.create_binding()?;
        let (host_alloc, device_alloc) = match gpu_index(device) {
            Some(i) => (
                Allocator::new(session, MemoryInfo::new(AllocationDevice::CUDA_PINNED, 0, AllocatorType::Device, MemoryType::CPUInput)?)?,
                Some(Allocator::new(session, MemoryInfo::new(AllocationDevice::CUDA, i, AllocatorType::Device, MemoryType::Default)?)?),
            ),
            None => (Allocator::default(), None),
        };
        let run_options = match graph_id {
            Some(id) => {
                let mut o = RunOptions::new()?;
                // ONNX Runtime's run config key (kOrtRunOptionsConfigCudaGraphAnnotation).
                o.set("gpu_graph_id", id.to_string())?;
                Some(o)
            }
            None => None,
        };
        Ok(BoundRun { slots: Vec::new(), host_alloc, device_alloc, run_options, binding })
    }

    /// Whether the bound tensors live on a GPU.
    pub fn on_device(&self) -> bool {
        self.device_alloc.is_some()
    }

    fn slot(&mut self, name: &str, shape: &[usize], output: bool, f32: bool) -> ort::Result<usize> {
        if let Some(i) = self.slots.iter().position(|s| s.name == name) {
            if self.slots[i].shape == shape {
                return Ok(i);
            }
            self.slots.remove(i);
        }
        let buffer = if f32 {
            let host = Tensor::<f32>::new(&self.host_alloc, shape.to_vec())?;
            let device = self.device_alloc.as_ref().map(|a| Tensor::<f32>::new(a, shape.to_vec())).transpose()?;
            Buffer::F32 { host, device }
        } else {
            let host = Tensor::<i64>::new(&self.host_alloc, shape.to_vec())?;
            let device = self.device_alloc.as_ref().map(|a| Tensor::<i64>::new(a, shape.to_vec())).transpose()?;
            Buffer::I64 { host, device }
        };
        let mut buffer = buffer;
        // Outputs are bound once; inputs are bound after each write (`bind_input`).
        match (&mut buffer, output) {
            (Buffer::F32 { device: Some(d), .. }, true) => self.binding.bind_output(name, d)?,
            (Buffer::F32 { host, .. }, true) => self.binding.bind_output(name, host)?,
            (Buffer::I64 { .. }, true) => return Err(ort::Error::new("kino binds only float outputs")),
            (_, false) => {}
        }
        self.slots.push(Slot { name: name.to_string(), shape: shape.to_vec(), output, buffer });
        Ok(self.slots.len() - 1)
    }

    /// Fills the float input `name` of `shape` in place (allocated on first use), uploads it on a
    /// GPU, and binds it.
    pub fn write_f32(&mut self, name: &str, shape: &[usize], fill: impl FnOnce(&mut [f32])) -> ort::Result<()> {
        let i = self.slot(name, shape, false, true)?;
        if let Buffer::F32 { host, device } = &mut self.slots[i].buffer {
            fill(host.extract_tensor_mut().1);
            match device {
                Some(d) => {
                    host.copy_into(&mut *d)?;
                    self.binding.bind_input(name, d)?;
                }
                None => self.binding.bind_input(name, host)?,
            }
        }
        Ok(())
    }

    /// As [`BoundRun::write_f32`], for an int64 input.
    pub fn write_i64(&mut self, name: &str, shape: &[usize], fill: impl FnOnce(&mut [i64])) -> ort::Result<()> {
        let i = self.slot(name, shape, false, false)?;
        if let Buffer::I64 { host, device } = &mut self.slots[i].buffer {
            fill(host.extract_tensor_mut().1);
            match device {
                Some(d) => {
                    host.copy_into(&mut *d)?;
                    self.binding.bind_input(name, d)?;
                }
                None => self.binding.bind_input(name, host)?,
            }
        }
        Ok(())
    }

    /// Binds the float output `name` to a preallocated tensor of `shape` (once).
    pub fn bind_output(&mut self, name: &str, shape: &[usize]) -> ort::Result<()> {
        self.slot(name, shape, true, true).map(drop)
    }

    /// Runs `session` on the bound tensors, then brings the outputs to the host.
    pub(super) fn run(&mut self, session: &mut Session) -> ort::Result<()> {
        match &self.run_options {
            Some(o) => drop(session.run_binding_with_options(&self.binding, o)?),
            None => drop(session.run_binding(&self.binding)?),
        }
        for s in self.slots.iter_mut().filter(|s| s.output) {
            if let Buffer::F32 { host, device: Some(d) } = &mut s.buffer {
                d.copy_into(host)?;
            }
        }
        Ok(())
    }

    /// The host copy of the float output `name` after [`BoundRun::run`].
    pub fn output(&self, name: &str) -> Option<(&[usize], &[f32])> {
        self.slots.iter().find(|s| s.output && s.name == name).and_then(|s| match &s.buffer {
            Buffer::F32 { host, .. } => Some((s.shape.as_slice(), host.extract_tensor().1)),
            Buffer::I64 { .. } => None,
        })
    }
}
