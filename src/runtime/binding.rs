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
use ort::value::{PrimitiveTensorElementType, Tensor};
use std::fmt::Debug;

use super::Device;

/// One bound tensor: the host side the caller touches and, on a GPU, its device twin.
struct Pair<T: PrimitiveTensorElementType + Debug> {
    host: Tensor<T>,
    device: Option<Tensor<T>>,
}

impl<T: PrimitiveTensorElementType + Debug> Pair<T> {
    fn new(host: &Allocator, device: Option<&Allocator>, shape: &[usize]) -> ort::Result<Self> {
        Ok(Pair { host: Tensor::new(host, shape.to_vec())?, device: device.map(|a| Tensor::new(a, shape.to_vec())).transpose()? })
    }

    /// Fills the host tensor in place, uploads it on a GPU, and binds the tensor the graph reads.
    fn fill_and_bind(&mut self, binding: &mut IoBinding, name: &str, fill: impl FnOnce(&mut [T])) -> ort::Result<()> {
        fill(self.host.extract_tensor_mut().1);
        match &mut self.device {
            Some(d) => {
                self.host.copy_into(&mut *d)?;
                binding.bind_input(name, d)
            }
            None => binding.bind_input(name, &self.host),
        }
    }
}

enum Buffer {
    F32(Pair<f32>),
    I64(Pair<i64>),
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

    /// The index of `name`'s slot, (re)allocated when new or of another shape.
    fn slot(&mut self, name: &str, shape: &[usize], output: bool, f32: bool) -> ort::Result<usize> {
        if let Some(i) = self.slots.iter().position(|s| s.name == name) {
            if self.slots[i].shape == shape {
                return Ok(i);
            }
            self.slots.remove(i);
        }
        let device = self.device_alloc.as_ref();
        let mut buffer = if f32 {
            Buffer::F32(Pair::new(&self.host_alloc, device, shape)?)
        } else {
            Buffer::I64(Pair::new(&self.host_alloc, device, shape)?)
        };
        // Outputs are bound once, here; inputs after each write (`Pair::fill_and_bind`).
        if output {
            match &mut buffer {
                Buffer::F32(Pair { device: Some(d), .. }) => self.binding.bind_output(name, d)?,
                Buffer::F32(Pair { host, .. }) => self.binding.bind_output(name, host)?,
                Buffer::I64(_) => return Err(ort::Error::new("kino binds only float outputs")),
            }
        }
        self.slots.push(Slot { name: name.to_string(), shape: shape.to_vec(), output, buffer });
        Ok(self.slots.len() - 1)
    }

    /// Fills the float input `name` of `shape` in place (allocated on first use), uploads it on a
    /// GPU, and binds it.
    pub fn write_f32(&mut self, name: &str, shape: &[usize], fill: impl FnOnce(&mut [f32])) -> ort::Result<()> {
        let i = self.slot(name, shape, false, true)?;
        match &mut self.slots[i].buffer {
            Buffer::F32(pair) => pair.fill_and_bind(&mut self.binding, name, fill),
            Buffer::I64(_) => unreachable!("slot made a float tensor"),
        }
    }

    /// As [`BoundRun::write_f32`], for an int64 input.
    pub fn write_i64(&mut self, name: &str, shape: &[usize], fill: impl FnOnce(&mut [i64])) -> ort::Result<()> {
        let i = self.slot(name, shape, false, false)?;
        match &mut self.slots[i].buffer {
            Buffer::I64(pair) => pair.fill_and_bind(&mut self.binding, name, fill),
            Buffer::F32(_) => unreachable!("slot made an int64 tensor"),
        }
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
            if let Buffer::F32(Pair { host, device: Some(d) }) = &mut s.buffer {
                d.copy_into(host)?;
            }
        }
        Ok(())
    }

    /// The host copy of the float output `name` after [`BoundRun::run`].
    pub fn output(&self, name: &str) -> Option<ndarray::ArrayViewD<'_, f32>> {
        self.slots.iter().find(|s| s.output && s.name == name).and_then(|s| match &s.buffer {
            Buffer::F32(pair) => ndarray::ArrayViewD::from_shape(s.shape.as_slice(), pair.host.extract_tensor().1).ok(),
            Buffer::I64(_) => None,
        })
    }
}
