/*
 * rt_saliency.encode._x264: a small CPython extension over libx264's public API.
 *
 * One type, Encoder: planar YUV (4:2:0, 4:2:2 or 4:4:4; 8-bit samples as uint8, deeper ones as
 * native uint16) plus an optional per-macroblock float32 offset grid go in
 * (x264_picture_t.prop.quant_offsets), Annex-B access units come out, with SPS/PPS repeated
 * in-band before every keyframe so any muxer (PyAV, ffmpeg reading a pipe) can start from them.
 * Policy (which configurations are allowed, option names) lives in the Python wrapper, x264.py.
 *
 * Parameters are built in the order FFmpeg's libx264 wrapper uses: preset/tune, the frame
 * description (size, colour space, depth, rates, VUI), then x264_param_parse options in the
 * caller's order, then the profile; so the same option list gives the same encoder.
 *
 * x264 copies the picture and applies quant_offsets inside x264_encoder_encode, so the caller's
 * buffers are only borrowed for the duration of the call; the GIL is released around it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <x264.h>

typedef struct {
    PyObject_HEAD
    x264_t *enc;
    x264_param_t param; /* as opened (x264_encoder_parameters) */
    int width, height, mb_width, mb_height;
    int csp, bit_depth, chroma_w, chroma_h;
    int busy;
    int log_level;
    char last_error[512];
} EncoderObject;

static PyObject *X264Error; /* rt_saliency.encode._x264.X264Error, a RuntimeError */

/* x264's log: errors are kept for the exception message, the rest go to stderr by level. */
static void
log_callback(void *priv, int level, const char *fmt, va_list args)
{
    EncoderObject *self = (EncoderObject *)priv;
    char line[512];
    vsnprintf(line, sizeof line, fmt, args);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (level == X264_LOG_ERROR && self)
        snprintf(self->last_error, sizeof self->last_error, "%s", line);
    if (!self || level <= self->log_level)
        fprintf(stderr, "x264 [%d]: %s\n", level, line);
}

static int
set_param(x264_param_t *p, const char *name, const char *value)
{
    int rc = x264_param_parse(p, name, value);
    if (rc == X264_PARAM_BAD_NAME) {
        PyErr_Format(PyExc_ValueError, "x264 has no option '%s'", name);
        return -1;
    }
    if (rc == X264_PARAM_BAD_VALUE) {
        PyErr_Format(PyExc_ValueError, "x264 option '%s': bad value '%s'", name, value);
        return -1;
    }
    if (rc < 0) {
        PyErr_Format(PyExc_MemoryError, "x264 option '%s': out of memory", name);
        return -1;
    }
    return 0;
}

static int
csp_from_name(const char *name, int *csp, int *sub_w, int *sub_h)
{
    if (strcmp(name, "i420") == 0) {
        *csp = X264_CSP_I420;
        *sub_w = *sub_h = 1;
    } else if (strcmp(name, "i422") == 0) {
        *csp = X264_CSP_I422;
        *sub_w = 1;
        *sub_h = 0;
    } else if (strcmp(name, "i444") == 0) {
        *csp = X264_CSP_I444;
        *sub_w = *sub_h = 0;
    } else {
        PyErr_Format(PyExc_ValueError, "csp must be 'i420', 'i422' or 'i444', got '%s'", name);
        return -1;
    }
    return 0;
}

/* options: a sequence of (name, value) string pairs, applied in order with x264_param_parse */
static int
apply_options(x264_param_t *p, PyObject *options)
{
    if (!options || options == Py_None)
        return 0;
    PyObject *seq = PySequence_Fast(options, "options must be a sequence of (name, value) pairs");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_SetString(PyExc_TypeError, "options must be (name, value) string pairs");
            Py_DECREF(seq);
            return -1;
        }
        const char *k = PyUnicode_AsUTF8(PyTuple_GET_ITEM(item, 0));
        const char *v = k ? PyUnicode_AsUTF8(PyTuple_GET_ITEM(item, 1)) : NULL;
        if (!k || !v || set_param(p, k, v) < 0) {
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    return 0;
}

static int
Encoder_init(EncoderObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"width", "height", "fps_num", "fps_den", "csp", "bit_depth",
                             "timebase_num", "timebase_den", "vfr", "preset", "tune",
                             "profile", "options", "fast_first_pass", "full_range",
                             "colorprim", "transfer", "colmatrix", "chromaloc", "log_level",
                             "ensure_aq", "sar_num", "sar_den", NULL};
    int width, height, fps_num, fps_den;
    const char *csp_name = "i420", *preset = "medium", *tune = NULL, *profile = NULL;
    int bit_depth = 8, tb_num = 0, tb_den = 0, vfr = 1, fast_first_pass = 0;
    int full_range = -1, colorprim = -1, transfer = -1, colmatrix = -1, chromaloc = -1;
    int log_level = X264_LOG_ERROR, ensure_aq = 1, sar_num = 0, sar_den = 0;
    PyObject *options = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iiii|$siiipszzOpiiiiiipii", kwlist, &width,
                                     &height, &fps_num, &fps_den, &csp_name, &bit_depth,
                                     &tb_num, &tb_den, &vfr, &preset, &tune, &profile,
                                     &options, &fast_first_pass, &full_range, &colorprim,
                                     &transfer, &colmatrix, &chromaloc, &log_level,
                                     &ensure_aq, &sar_num, &sar_den))
        return -1;
    if (self->enc) {
        PyErr_SetString(PyExc_RuntimeError, "Encoder already initialised");
        return -1;
    }
    int csp, sub_w, sub_h;
    if (csp_from_name(csp_name, &csp, &sub_w, &sub_h) < 0)
        return -1;
    if (width < 2 || height < 2 || (width & sub_w) || (height & sub_h)) {
        PyErr_Format(PyExc_ValueError, "%s needs a size divisible by its chroma subsampling, "
                     "got %dx%d", csp_name, width, height);
        return -1;
    }
    if (bit_depth != 8 && bit_depth != 10) {
        PyErr_Format(PyExc_ValueError, "x264 encodes 8 or 10 bits per sample, not %d",
                     bit_depth);
        return -1;
    }
#if X264_BIT_DEPTH
    if (bit_depth != X264_BIT_DEPTH) {
        PyErr_Format(PyExc_ValueError, "the linked libx264 was built for %d-bit only; %d-bit "
                     "needs a libx264 built with --bit-depth=all", X264_BIT_DEPTH, bit_depth);
        return -1;
    }
#endif
    if (fps_num <= 0 || fps_den <= 0) {
        PyErr_SetString(PyExc_ValueError, "frame rate must be positive");
        return -1;
    }

    x264_param_t p;
    if (x264_param_default_preset(&p, preset, tune) < 0) {
        PyErr_Format(PyExc_ValueError, "unknown x264 preset '%s' or tune '%s'", preset,
                     tune ? tune : "");
        return -1;
    }
    self->log_level = log_level;
    self->last_error[0] = '\0';
    p.pf_log = log_callback;
    p.p_log_private = self;
    p.i_log_level = log_level > X264_LOG_ERROR ? log_level : X264_LOG_ERROR;
    p.i_csp = csp | (bit_depth > 8 ? X264_CSP_HIGH_DEPTH : 0);
    p.i_bitdepth = bit_depth;
    p.i_width = width;
    p.i_height = height;
    p.i_fps_num = (uint32_t)fps_num;
    p.i_fps_den = (uint32_t)fps_den;
    p.i_timebase_num = (uint32_t)(tb_num > 0 ? tb_num : fps_den);
    p.i_timebase_den = (uint32_t)(tb_den > 0 ? tb_den : fps_num);
    p.b_vfr_input = vfr;
    if (full_range >= 0)
        p.vui.b_fullrange = full_range;
    if (colorprim >= 0)
        p.vui.i_colorprim = colorprim;
    if (transfer >= 0)
        p.vui.i_transfer = transfer;
    if (colmatrix >= 0)
        p.vui.i_colmatrix = colmatrix;
    if (chromaloc >= 0)
        p.vui.i_chroma_loc = chromaloc;
    if (sar_num > 0 && sar_den > 0) {
        p.vui.i_sar_width = sar_num;
        p.vui.i_sar_height = sar_den;
    }

    if (apply_options(&p, options) < 0)
        goto fail_param;
    /* ultrafast and tune=psnr/ssim turn AQ off; the offsets ride on it */
    if (ensure_aq && p.rc.i_aq_mode == X264_AQ_NONE)
        p.rc.i_aq_mode = X264_AQ_VARIANCE;
    if (fast_first_pass && p.rc.b_stat_write && !p.rc.b_stat_read)
        x264_param_apply_fastfirstpass(&p);
    if (profile && x264_param_apply_profile(&p, profile) < 0) {
        PyErr_Format(PyExc_ValueError, "x264 profile '%s' is unknown or does not fit "
                     "%s %d-bit", profile, csp_name, bit_depth);
        goto fail_param;
    }
    /* the framing every consumer here relies on */
    p.b_annexb = 1;
    p.b_repeat_headers = 1;

    x264_t *enc = x264_encoder_open(&p);
    if (!enc) {
        PyErr_Format(X264Error, "x264_encoder_open failed: %s",
                     self->last_error[0] ? self->last_error : "(no message)");
        goto fail_param;
    }
    x264_param_cleanup(&p);
    self->enc = enc;
    x264_encoder_parameters(enc, &self->param);
    self->width = width;
    self->height = height;
    self->csp = csp;
    self->bit_depth = bit_depth;
    self->chroma_w = width >> sub_w;
    self->chroma_h = height >> sub_h;
    self->mb_width = (width + 15) / 16;
    self->mb_height = (height + 15) / 16;
    return 0;

fail_param:
    x264_param_cleanup(&p);
    return -1;
}

static void
Encoder_dealloc(EncoderObject *self)
{
    if (self->enc) {
        x264_encoder_close(self->enc);
        self->enc = NULL;
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
check_open(EncoderObject *self)
{
    if (!self->enc) {
        PyErr_SetString(PyExc_ValueError, "encoder is closed");
        return -1;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "encoder is in use by another thread");
        return -1;
    }
    return 0;
}

static int
get_plane(PyObject *obj, Py_buffer *view, int w, int h, int itemsize, const char *name)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_STRIDED_RO | PyBUF_FORMAT) < 0)
        return -1;
    const char *fmt = view->format ? view->format : "B";
    if (*fmt == '=' || *fmt == '<' || *fmt == '@')
        fmt++;
    int fmt_ok = itemsize == 1 ? strcmp(fmt, "B") == 0 : strcmp(fmt, "H") == 0;
    if (view->ndim != 2 || view->itemsize != itemsize || !fmt_ok ||
        view->strides[1] != itemsize || view->shape[0] != h || view->shape[1] != w ||
        view->strides[0] < (Py_ssize_t)w * itemsize) {
        PyErr_Format(PyExc_ValueError,
                     "plane %s must be a %s (%d, %d) array with contiguous rows", name,
                     itemsize == 1 ? "uint8" : "native uint16", h, w);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* One encoded access unit -> (data, pts, dts, keyframe, type) */
static PyObject *
packet_tuple(int size, x264_nal_t *nals, x264_picture_t *out)
{
    PyObject *data = PyBytes_FromStringAndSize((const char *)nals[0].p_payload, size);
    if (!data)
        return NULL;
    return Py_BuildValue("(NLLii)", data, (long long)out->i_pts, (long long)out->i_dts,
                         out->b_keyframe, out->i_type);
}

PyDoc_STRVAR(encode_doc,
"encode(y, u, v, offsets=None, pts=0, force_keyframe=False) -> tuple | None\n\n"
"Encode one frame in the encoder's colour space and depth (uint8 planes for 8-bit, native\n"
"uint16 for 10-bit); offsets is a float32 C-contiguous buffer of mb_height*mb_width QP\n"
"offsets or None.  Returns the access unit that came out, (data, pts, dts, keyframe, type),\n"
"or None while x264 is still filling its lookahead.");

static PyObject *
Encoder_encode(EncoderObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"y", "u", "v", "offsets", "pts", "force_keyframe", NULL};
    PyObject *yo, *uo, *vo, *oo = Py_None;
    long long pts = 0;
    int force_key = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO|OLp", kwlist, &yo, &uo, &vo, &oo, &pts,
                                     &force_key))
        return NULL;
    if (check_open(self) < 0)
        return NULL;

    Py_buffer yb, ub, vb, ob;
    int have_offsets = oo != Py_None;
    int itemsize = self->bit_depth > 8 ? 2 : 1;
    if (get_plane(yo, &yb, self->width, self->height, itemsize, "y") < 0)
        return NULL;
    if (get_plane(uo, &ub, self->chroma_w, self->chroma_h, itemsize, "u") < 0) {
        PyBuffer_Release(&yb);
        return NULL;
    }
    if (get_plane(vo, &vb, self->chroma_w, self->chroma_h, itemsize, "v") < 0) {
        PyBuffer_Release(&yb);
        PyBuffer_Release(&ub);
        return NULL;
    }
    if (have_offsets) {
        if (self->param.rc.i_aq_mode == X264_AQ_NONE) {
            PyErr_SetString(PyExc_ValueError, "offsets need adaptive quantisation (aq_mode > 0)");
            goto fail_planes;
        }
        if (PyObject_GetBuffer(oo, &ob, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
            goto fail_planes;
        if (ob.itemsize != 4 || (ob.format && strcmp(ob.format, "f") != 0) ||
            ob.len != (Py_ssize_t)self->mb_width * self->mb_height * 4) {
            PyErr_Format(PyExc_ValueError,
                         "offsets must be float32 with %d x %d (mb rows x cols) values",
                         self->mb_height, self->mb_width);
            PyBuffer_Release(&ob);
            goto fail_planes;
        }
    }

    x264_picture_t pic, out;
    x264_picture_init(&pic);
    pic.img.i_csp = self->csp | (itemsize == 2 ? X264_CSP_HIGH_DEPTH : 0);
    pic.img.i_plane = 3;
    pic.img.plane[0] = (uint8_t *)yb.buf;
    pic.img.plane[1] = (uint8_t *)ub.buf;
    pic.img.plane[2] = (uint8_t *)vb.buf;
    pic.img.i_stride[0] = (int)yb.strides[0];
    pic.img.i_stride[1] = (int)ub.strides[0];
    pic.img.i_stride[2] = (int)vb.strides[0];
    pic.i_pts = pts;
    pic.i_type = force_key ? X264_TYPE_IDR : X264_TYPE_AUTO;
    if (have_offsets) {
        pic.prop.quant_offsets = (float *)ob.buf;
        pic.prop.quant_offsets_free = NULL; /* borrowed: consumed inside encode */
    }

    x264_nal_t *nals = NULL;
    int nnal = 0, size;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    size = x264_encoder_encode(self->enc, &nals, &nnal, &pic, &out);
    Py_END_ALLOW_THREADS
    self->busy = 0;

    PyBuffer_Release(&yb);
    PyBuffer_Release(&ub);
    PyBuffer_Release(&vb);
    if (have_offsets)
        PyBuffer_Release(&ob);
    if (size < 0) {
        PyErr_Format(X264Error, "x264_encoder_encode failed: %s",
                     self->last_error[0] ? self->last_error : "(no message)");
        return NULL;
    }
    if (size == 0)
        Py_RETURN_NONE;
    return packet_tuple(size, nals, &out);

fail_planes:
    PyBuffer_Release(&yb);
    PyBuffer_Release(&ub);
    PyBuffer_Release(&vb);
    return NULL;
}

PyDoc_STRVAR(flush_doc,
"flush() -> list[tuple]\n\nDrain the frames x264 still holds (lookahead, B-frames, threads).");

static PyObject *
Encoder_flush(EncoderObject *self, PyObject *Py_UNUSED(ignored))
{
    if (check_open(self) < 0)
        return NULL;
    PyObject *list = PyList_New(0);
    if (!list)
        return NULL;
    while (x264_encoder_delayed_frames(self->enc) > 0) {
        x264_nal_t *nals = NULL;
        x264_picture_t out;
        int nnal = 0, size;
        self->busy = 1;
        Py_BEGIN_ALLOW_THREADS
        size = x264_encoder_encode(self->enc, &nals, &nnal, NULL, &out);
        Py_END_ALLOW_THREADS
        self->busy = 0;
        if (size < 0) {
            Py_DECREF(list);
            PyErr_Format(X264Error, "x264_encoder_encode failed while flushing: %s",
                         self->last_error[0] ? self->last_error : "(no message)");
            return NULL;
        }
        if (size == 0)
            continue;
        PyObject *t = packet_tuple(size, nals, &out);
        if (!t || PyList_Append(list, t) < 0) {
            Py_XDECREF(t);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(t);
    }
    return list;
}

static PyObject *
Encoder_headers(EncoderObject *self, PyObject *Py_UNUSED(ignored))
{
    if (check_open(self) < 0)
        return NULL;
    x264_nal_t *nals = NULL;
    int nnal = 0;
    int size = x264_encoder_headers(self->enc, &nals, &nnal);
    if (size < 0) {
        PyErr_SetString(X264Error, "x264_encoder_headers failed");
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)nals[0].p_payload, size);
}

static PyObject *
Encoder_delayed_frames(EncoderObject *self, PyObject *Py_UNUSED(ignored))
{
    if (check_open(self) < 0)
        return NULL;
    return PyLong_FromLong(x264_encoder_delayed_frames(self->enc));
}

static PyObject *
Encoder_close(EncoderObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "encoder is in use by another thread");
        return NULL;
    }
    if (self->enc) {
        x264_encoder_close(self->enc);
        self->enc = NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Encoder_params(EncoderObject *self, void *Py_UNUSED(closure))
{
    const x264_param_t *p = &self->param;
    PyObject *d = Py_BuildValue(
        "{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:d,s:i,s:i,s:i,s:i,s:i,s:d}", "width", p->i_width,
        "height", p->i_height, "threads", p->i_threads, "bframes", p->i_bframe, "keyint",
        p->i_keyint_max, "rc_method", p->rc.i_rc_method, "aq_mode", p->rc.i_aq_mode,
        "aq_strength", (double)p->rc.f_aq_strength, "rc_lookahead", p->rc.i_lookahead,
        "mb_tree", p->rc.b_mb_tree, "bitrate", p->rc.i_bitrate, "repeat_headers",
        p->b_repeat_headers, "annexb", p->b_annexb, "crf", (double)p->rc.f_rf_constant);
    if (!d)
        return NULL;
    PyObject *more = Py_BuildValue(
        "{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:I,s:I,s:i,s:i}", "bit_depth",
        p->i_bitdepth, "csp", p->i_csp & X264_CSP_MASK, "level", p->i_level_idc,
        "vbv_maxrate", p->rc.i_vbv_max_bitrate, "vbv_bufsize", p->rc.i_vbv_buffer_size,
        "full_range", p->vui.b_fullrange, "colorprim", p->vui.i_colorprim, "transfer",
        p->vui.i_transfer, "colmatrix", p->vui.i_colmatrix, "chromaloc", p->vui.i_chroma_loc,
        "vfr", p->b_vfr_input, "fps_num", p->i_fps_num, "fps_den", p->i_fps_den,
        "timebase_num", p->i_timebase_num, "timebase_den", p->i_timebase_den, "stat_write",
        p->rc.b_stat_write, "stat_read", p->rc.b_stat_read);
    if (!more || PyDict_Update(d, more) < 0) {
        Py_XDECREF(more);
        Py_DECREF(d);
        return NULL;
    }
    Py_DECREF(more);
    return d;
}

static PyObject *
Encoder_get_int(EncoderObject *self, void *closure)
{
    return PyLong_FromLong(*(int *)((char *)self + (Py_ssize_t)closure));
}

static PyObject *
Encoder_closed(EncoderObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->enc == NULL);
}

static PyMethodDef Encoder_methods[] = {
    {"encode", (PyCFunction)(void (*)(void))Encoder_encode, METH_VARARGS | METH_KEYWORDS,
     encode_doc},
    {"flush", (PyCFunction)Encoder_flush, METH_NOARGS, flush_doc},
    {"headers", (PyCFunction)Encoder_headers, METH_NOARGS, "SPS/PPS/SEI as Annex-B bytes."},
    {"delayed_frames", (PyCFunction)Encoder_delayed_frames, METH_NOARGS,
     "Frames x264 holds and has not output yet."},
    {"close", (PyCFunction)Encoder_close, METH_NOARGS, "Free the x264 encoder (idempotent)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Encoder_getset[] = {
    {"params", (getter)Encoder_params, NULL, "Parameters x264 opened with (a dict).", NULL},
    {"width", (getter)Encoder_get_int, NULL, "coded width",
     (void *)offsetof(EncoderObject, width)},
    {"height", (getter)Encoder_get_int, NULL, "coded height",
     (void *)offsetof(EncoderObject, height)},
    {"mb_width", (getter)Encoder_get_int, NULL, "macroblock columns",
     (void *)offsetof(EncoderObject, mb_width)},
    {"mb_height", (getter)Encoder_get_int, NULL, "macroblock rows",
     (void *)offsetof(EncoderObject, mb_height)},
    {"bit_depth", (getter)Encoder_get_int, NULL, "bits per sample",
     (void *)offsetof(EncoderObject, bit_depth)},
    {"closed", (getter)Encoder_closed, NULL, "True once closed", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rt_saliency.encode._x264.Encoder",
    .tp_basicsize = sizeof(EncoderObject),
    .tp_dealloc = (destructor)Encoder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "libx264 encoder: planar YUV + per-MB quant offsets in, Annex-B access units out.",
    .tp_methods = Encoder_methods,
    .tp_getset = Encoder_getset,
    .tp_init = (initproc)Encoder_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef x264module = {
    PyModuleDef_HEAD_INIT, "_x264", "libx264 through its public C API.", -1, NULL,
};

PyMODINIT_FUNC
PyInit__x264(void)
{
    if (PyType_Ready(&EncoderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&x264module);
    if (!m)
        return NULL;
    X264Error = PyErr_NewException("rt_saliency.encode._x264.X264Error", PyExc_RuntimeError,
                                   NULL);
    if (!X264Error || PyModule_AddObject(m, "X264Error", X264Error) < 0) {
        Py_XDECREF(X264Error);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&EncoderType);
    if (PyModule_AddObject(m, "Encoder", (PyObject *)&EncoderType) < 0) {
        Py_DECREF(&EncoderType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "X264_BUILD", X264_BUILD);
    /* 0: every depth this build of libx264 knows (8 and 10); otherwise the only one */
    PyModule_AddIntConstant(m, "X264_BIT_DEPTH", X264_BIT_DEPTH);
    PyModule_AddIntConstant(m, "RC_CQP", X264_RC_CQP);
    PyModule_AddIntConstant(m, "RC_CRF", X264_RC_CRF);
    PyModule_AddIntConstant(m, "RC_ABR", X264_RC_ABR);
    return m;
}
