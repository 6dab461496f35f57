/*
 * rt_saliency.encode._x264: a small CPython extension over libx264's public API.
 *
 * One type, Encoder: I420 planes plus an optional per-macroblock float32 offset grid go in
 * (x264_picture_t.prop.quant_offsets), Annex-B access units come out, with SPS/PPS repeated
 * in-band before every keyframe so any muxer (PyAV, ffmpeg reading a pipe) can start from them.
 * Policy (which configurations are allowed) lives in the Python wrapper, x264.py.
 *
 * x264 copies the picture and applies quant_offsets inside x264_encoder_encode, so the caller's
 * buffers are only borrowed for the duration of the call; the GIL is released around it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <x264.h>

typedef struct {
    PyObject_HEAD
    x264_t *enc;
    x264_param_t param; /* as opened (x264_encoder_parameters) */
    int width, height, mb_width, mb_height;
    int busy;
} EncoderObject;

static PyObject *X264Error; /* rt_saliency.encode._x264.X264Error, a RuntimeError */

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
    return 0;
}

static int
Encoder_init(EncoderObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"width", "height", "fps_num", "fps_den", "preset", "tune",
                             "profile", "rc", "crf", "qp", "bitrate", "vbv_maxrate",
                             "vbv_bufsize", "keyint", "min_keyint", "bframes", "aq_mode",
                             "aq_strength", "threads", "timebase_num", "timebase_den",
                             "log_level", "options", NULL};
    int width, height, fps_num, fps_den;
    const char *preset = "medium", *tune = NULL, *profile = NULL, *rc = "crf";
    double crf = 23.0, aq_strength = 1.0;
    int qp = 23, bitrate = 0, vbv_maxrate = 0, vbv_bufsize = 0, keyint = 250, min_keyint = 0;
    int bframes = -1, aq_mode = 1, threads = 0, tb_num = 0, tb_den = 0, log_level = 0;
    PyObject *options = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iiii|szzsdiiiiiiiidiiiiO", kwlist, &width,
                                     &height, &fps_num, &fps_den, &preset, &tune, &profile, &rc,
                                     &crf, &qp, &bitrate, &vbv_maxrate, &vbv_bufsize, &keyint,
                                     &min_keyint, &bframes, &aq_mode, &aq_strength, &threads,
                                     &tb_num, &tb_den, &log_level, &options))
        return -1;
    if (self->enc) {
        PyErr_SetString(PyExc_RuntimeError, "Encoder already initialised");
        return -1;
    }
    if (width < 2 || height < 2 || (width & 1) || (height & 1)) {
        PyErr_Format(PyExc_ValueError, "I420 needs an even width and height, got %dx%d", width,
                     height);
        return -1;
    }
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
    p.i_csp = X264_CSP_I420;
    p.i_width = width;
    p.i_height = height;
    p.i_fps_num = (uint32_t)fps_num;
    p.i_fps_den = (uint32_t)fps_den;
    p.i_timebase_num = (uint32_t)(tb_num > 0 ? tb_num : fps_den);
    p.i_timebase_den = (uint32_t)(tb_den > 0 ? tb_den : fps_num);
    p.b_vfr_input = 0;
    p.b_annexb = 1;
    p.b_repeat_headers = 1;
    p.i_log_level = log_level;
    p.i_threads = threads; /* 0 = auto */
    p.i_keyint_max = keyint;
    if (min_keyint > 0)
        p.i_keyint_min = min_keyint;
    if (bframes >= 0)
        p.i_bframe = bframes;

    if (strcmp(rc, "crf") == 0) {
        p.rc.i_rc_method = X264_RC_CRF;
        p.rc.f_rf_constant = (float)crf;
    } else if (strcmp(rc, "abr") == 0) {
        if (bitrate <= 0) {
            PyErr_SetString(PyExc_ValueError, "abr needs bitrate > 0 (kbit/s)");
            return -1;
        }
        p.rc.i_rc_method = X264_RC_ABR;
        p.rc.i_bitrate = bitrate;
    } else if (strcmp(rc, "cqp") == 0) {
        p.rc.i_rc_method = X264_RC_CQP;
        p.rc.i_qp_constant = qp;
    } else {
        PyErr_Format(PyExc_ValueError, "rc must be 'crf', 'abr' or 'cqp', got '%s'", rc);
        return -1;
    }
    if (vbv_maxrate > 0)
        p.rc.i_vbv_max_bitrate = vbv_maxrate;
    if (vbv_bufsize > 0)
        p.rc.i_vbv_buffer_size = vbv_bufsize;

    if (options && options != Py_None) {
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        if (!PyDict_Check(options)) {
            PyErr_SetString(PyExc_TypeError, "options must be a dict of str to str");
            return -1;
        }
        while (PyDict_Next(options, &pos, &key, &value)) {
            const char *k = PyUnicode_AsUTF8(key), *v = PyUnicode_AsUTF8(value);
            if (!k || !v)
                return -1;
            if (set_param(&p, k, v) < 0)
                return -1;
        }
    }
    /* After the preset (ultrafast and tune=psnr turn AQ off) and the options: offsets only
     * work with AQ on. */
    p.rc.i_aq_mode = aq_mode;
    p.rc.f_aq_strength = (float)aq_strength;

    if (profile && x264_param_apply_profile(&p, profile) < 0) {
        PyErr_Format(PyExc_ValueError, "x264 profile '%s' is unknown or does not fit", profile);
        return -1;
    }

    x264_t *enc = x264_encoder_open(&p);
    if (!enc) {
        PyErr_SetString(X264Error, "x264_encoder_open failed (see x264's log on stderr)");
        return -1;
    }
    self->enc = enc;
    x264_encoder_parameters(enc, &self->param);
    self->width = width;
    self->height = height;
    self->mb_width = (width + 15) / 16;
    self->mb_height = (height + 15) / 16;
    return 0;
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
get_plane(PyObject *obj, Py_buffer *view, int w, int h, const char *name)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_STRIDED_RO | PyBUF_FORMAT) < 0)
        return -1;
    if (view->ndim != 2 || view->itemsize != 1 || view->strides[1] != 1 ||
        view->shape[0] != h || view->shape[1] != w || view->strides[0] < w ||
        (view->format && strcmp(view->format, "B") != 0)) {
        PyErr_Format(PyExc_ValueError,
                     "plane %s must be a uint8 (%d, %d) array with contiguous rows", name, h, w);
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
"Encode one I420 frame; offsets is a float32 C-contiguous buffer of mb_height*mb_width QP\n"
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
    int cw = (self->width + 1) / 2, ch = (self->height + 1) / 2;
    if (get_plane(yo, &yb, self->width, self->height, "y") < 0)
        return NULL;
    if (get_plane(uo, &ub, cw, ch, "u") < 0) {
        PyBuffer_Release(&yb);
        return NULL;
    }
    if (get_plane(vo, &vb, cw, ch, "v") < 0) {
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
    pic.img.i_csp = X264_CSP_I420;
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
        PyErr_SetString(X264Error, "x264_encoder_encode failed");
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
            PyErr_SetString(X264Error, "x264_encoder_encode failed while flushing");
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
    return Py_BuildValue("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:d,s:i,s:i,s:i,s:i,s:i}",
                         "width", p->i_width, "height", p->i_height, "threads", p->i_threads,
                         "bframes", p->i_bframe, "keyint", p->i_keyint_max, "rc_method",
                         p->rc.i_rc_method, "aq_mode", p->rc.i_aq_mode, "aq_strength",
                         (double)p->rc.f_aq_strength, "rc_lookahead", p->rc.i_lookahead,
                         "mb_tree", p->rc.b_mb_tree, "bitrate", p->rc.i_bitrate,
                         "repeat_headers", p->b_repeat_headers, "annexb", p->b_annexb);
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
    {"closed", (getter)Encoder_closed, NULL, "True once closed", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rt_saliency.encode._x264.Encoder",
    .tp_basicsize = sizeof(EncoderObject),
    .tp_dealloc = (destructor)Encoder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "libx264 encoder: I420 frames + per-MB quant offsets in, Annex-B access units out.",
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
    PyModule_AddIntConstant(m, "RC_CQP", X264_RC_CQP);
    PyModule_AddIntConstant(m, "RC_CRF", X264_RC_CRF);
    PyModule_AddIntConstant(m, "RC_ABR", X264_RC_ABR);
    return m;
}
