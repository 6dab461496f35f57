/*
 * rt_saliency.encode._x265: a small CPython extension over libx265's public API.
 *
 * One type, Encoder, shaped like rt_saliency.encode._x264.Encoder: planar YUV (4:2:0, 4:2:2,
 * 4:4:4; uint8 for 8-bit, native uint16 deeper) plus an optional float32 grid of QP offsets, one
 * per 16x16 block (x265_picture.quantOffsets; adaptive quantisation must be on), go in; Annex-B
 * access units come out, with VPS/SPS/PPS repeated before every keyframe.
 *
 * The depth picks the library through x265_api_get (Debian's libx265 holds 8, 10 and 12-bit
 * builds).  Parameters are built in the order FFmpeg's libx265 wrapper uses (preset/tune, frame
 * and VUI description, options in the caller's order, profile), so the same option list gives
 * the same stream as `ffmpeg -c:v libx265`.
 *
 * x265 copies the picture and the offsets inside x265_encoder_encode, so the caller's buffers
 * are only borrowed for the call; the GIL is released around it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <x265.h>

typedef struct {
    PyObject_HEAD
    const x265_api *api;
    x265_encoder *enc;
    x265_param *param; /* as opened (encoder_parameters) */
    x265_picture *pic_in, *pic_out;
    int width, height, mb_width, mb_height;
    int csp, bit_depth, chroma_w, chroma_h;
    int busy;
    long delayed;
} EncoderObject;

static PyObject *X265Error; /* rt_saliency.encode._x265.X265Error, a RuntimeError */

static int
set_param(const x265_api *api, x265_param *p, const char *name, const char *value)
{
    int rc = api->param_parse(p, name, value);
    if (rc == X265_PARAM_BAD_NAME) {
        PyErr_Format(PyExc_ValueError, "x265 has no option '%s'", name);
        return -1;
    }
    if (rc == X265_PARAM_BAD_VALUE) {
        PyErr_Format(PyExc_ValueError, "x265 option '%s': bad value '%s'", name, value);
        return -1;
    }
    return 0;
}

static int
apply_options(const x265_api *api, x265_param *p, PyObject *options)
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
        if (!k || !v || set_param(api, p, k, v) < 0) {
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
                             "preset", "tune", "profile", "options", "full_range",
                             "colorprim", "transfer", "colmatrix", "chromaloc", "log_level",
                             "ensure_aq", "sar_num", "sar_den", NULL};
    int width, height, fps_num, fps_den;
    const char *csp_name = "i420", *preset = "medium", *tune = NULL, *profile = NULL;
    int bit_depth = 8, full_range = -1, colorprim = -1, transfer = -1, colmatrix = -1;
    int chromaloc = -1, log_level = X265_LOG_ERROR, ensure_aq = 1, sar_num = 0, sar_den = 0;
    PyObject *options = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iiii|$siszzOiiiiiipii", kwlist, &width,
                                     &height, &fps_num, &fps_den, &csp_name, &bit_depth,
                                     &preset, &tune, &profile, &options, &full_range,
                                     &colorprim, &transfer, &colmatrix, &chromaloc, &log_level,
                                     &ensure_aq, &sar_num, &sar_den))
        return -1;
    if (self->enc) {
        PyErr_SetString(PyExc_RuntimeError, "Encoder already initialised");
        return -1;
    }
    int csp, sub_w, sub_h;
    if (strcmp(csp_name, "i420") == 0) {
        csp = X265_CSP_I420;
        sub_w = sub_h = 1;
    } else if (strcmp(csp_name, "i422") == 0) {
        csp = X265_CSP_I422;
        sub_w = 1;
        sub_h = 0;
    } else if (strcmp(csp_name, "i444") == 0) {
        csp = X265_CSP_I444;
        sub_w = sub_h = 0;
    } else {
        PyErr_Format(PyExc_ValueError, "csp must be 'i420', 'i422' or 'i444', got '%s'",
                     csp_name);
        return -1;
    }
    if (width < 16 || height < 16 || (width & sub_w) || (height & sub_h)) {
        PyErr_Format(PyExc_ValueError, "%s needs a size of at least 16x16 divisible by its "
                     "chroma subsampling, got %dx%d", csp_name, width, height);
        return -1;
    }
    if (fps_num <= 0 || fps_den <= 0) {
        PyErr_SetString(PyExc_ValueError, "frame rate must be positive");
        return -1;
    }
    const x265_api *api = x265_api_get(bit_depth);
    if (!api) {
        PyErr_Format(PyExc_ValueError, "the linked libx265 has no %d-bit encoder", bit_depth);
        return -1;
    }
    x265_param *p = api->param_alloc();
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    if (api->param_default_preset(p, preset, tune) < 0) {
        PyErr_Format(PyExc_ValueError, "unknown x265 preset '%s' or tune '%s'", preset,
                     tune ? tune : "");
        goto fail;
    }
    p->logLevel = log_level;
    p->fpsNum = (uint32_t)fps_num;
    p->fpsDenom = (uint32_t)fps_den;
    p->sourceWidth = width;
    p->sourceHeight = height;
    p->internalCsp = csp;
    if (width < 64 || height < 64)
        p->maxCUSize = 32;
    if (width < 32 || height < 32)
        p->maxCUSize = 16;
    p->vui.bEnableVideoSignalTypePresentFlag = 1;
    p->vui.bEnableVideoFullRangeFlag = full_range > 0;
    if (colorprim >= 0 || transfer >= 0 || colmatrix >= 0) {
        p->vui.bEnableColorDescriptionPresentFlag = 1;
        p->vui.colorPrimaries = colorprim >= 0 ? colorprim : 2;
        p->vui.transferCharacteristics = transfer >= 0 ? transfer : 2;
        p->vui.matrixCoeffs = colmatrix >= 0 ? colmatrix : 2;
    }
    if (chromaloc >= 0 && sub_w && sub_h) {
        p->vui.bEnableChromaLocInfoPresentFlag = 1;
        p->vui.chromaSampleLocTypeTopField = chromaloc;
        p->vui.chromaSampleLocTypeBottomField = chromaloc;
    }
    if (sar_num > 0 && sar_den > 0) {
        p->vui.aspectRatioIdc = X265_EXTENDED_SAR;
        p->vui.sarWidth = sar_num;
        p->vui.sarHeight = sar_den;
    }
    p->bRepeatHeaders = 1;
    if (apply_options(api, p, options) < 0)
        goto fail;
    if (ensure_aq) { /* the offsets are applied inside AQ only */
        if (p->rc.aqMode == X265_AQ_NONE)
            p->rc.aqMode = X265_AQ_VARIANCE;
        if (p->rc.aqStrength <= 0)
            p->rc.aqStrength = 1.0;
    }
    if (profile && api->param_apply_profile(p, profile) < 0) {
        PyErr_Format(PyExc_ValueError, "x265 profile '%s' is unknown or does not fit %s %d-bit",
                     profile, csp_name, bit_depth);
        goto fail;
    }
    p->bRepeatHeaders = 1;
    p->bAnnexB = 1;

    x265_encoder *enc = api->encoder_open(p);
    if (!enc) {
        PyErr_SetString(X265Error, "x265_encoder_open failed (x265's reason is on stderr)");
        goto fail;
    }
    api->encoder_parameters(enc, p);
    self->pic_in = api->picture_alloc();
    self->pic_out = api->picture_alloc();
    if (!self->pic_in || !self->pic_out) {
        api->encoder_close(enc);
        PyErr_NoMemory();
        goto fail;
    }
    api->picture_init(p, self->pic_out);
    self->api = api;
    self->enc = enc;
    self->param = p;
    self->width = width;
    self->height = height;
    self->csp = csp;
    self->bit_depth = bit_depth;
    self->chroma_w = width >> sub_w;
    self->chroma_h = height >> sub_h;
    self->mb_width = (width + 15) / 16;
    self->mb_height = (height + 15) / 16;
    self->delayed = 0;
    return 0;

fail:
    if (self->pic_in)
        api->picture_free(self->pic_in);
    if (self->pic_out)
        api->picture_free(self->pic_out);
    self->pic_in = self->pic_out = NULL;
    api->param_free(p);
    return -1;
}

static void
release(EncoderObject *self)
{
    if (self->enc) {
        self->api->encoder_close(self->enc);
        self->enc = NULL;
    }
    if (self->api) {
        if (self->pic_in)
            self->api->picture_free(self->pic_in);
        if (self->pic_out)
            self->api->picture_free(self->pic_out);
        if (self->param)
            self->api->param_free(self->param);
    }
    self->pic_in = self->pic_out = NULL;
    self->param = NULL;
}

static void
Encoder_dealloc(EncoderObject *self)
{
    release(self);
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

/* The access unit of one output picture -> (data, pts, dts, keyframe, type) */
static PyObject *
packet_tuple(x265_nal *nals, uint32_t nnal, const x265_picture *out)
{
    Py_ssize_t size = 0;
    for (uint32_t i = 0; i < nnal; i++)
        size += nals[i].sizeBytes;
    PyObject *data = PyBytes_FromStringAndSize(NULL, size);
    if (!data)
        return NULL;
    char *dst = PyBytes_AS_STRING(data);
    for (uint32_t i = 0; i < nnal; i++) {
        memcpy(dst, nals[i].payload, nals[i].sizeBytes);
        dst += nals[i].sizeBytes;
    }
    int key = out->sliceType == X265_TYPE_IDR || out->sliceType == X265_TYPE_I;
    return Py_BuildValue("(NLLii)", data, (long long)out->pts, (long long)out->dts, key,
                         out->sliceType);
}

PyDoc_STRVAR(encode_doc,
"encode(y, u, v, offsets=None, pts=0, force_keyframe=False) -> tuple | None\n\n"
"Encode one frame in the encoder's colour space and depth; offsets is a float32 C-contiguous\n"
"buffer of one QP offset per 16x16 block (mb_height*mb_width) or None.  Returns the access\n"
"unit that came out, (data, pts, dts, keyframe, type), or None while x265 holds frames.");

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
        if (self->param->rc.aqMode == X265_AQ_NONE) {
            PyErr_SetString(PyExc_ValueError, "offsets need adaptive quantisation (aq_mode > 0)");
            goto fail_planes;
        }
        if (PyObject_GetBuffer(oo, &ob, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
            goto fail_planes;
        if (ob.itemsize != 4 || (ob.format && strcmp(ob.format, "f") != 0) ||
            ob.len != (Py_ssize_t)self->mb_width * self->mb_height * 4) {
            PyErr_Format(PyExc_ValueError,
                         "offsets must be float32 with %d x %d (16x16 block rows x cols) values",
                         self->mb_height, self->mb_width);
            PyBuffer_Release(&ob);
            goto fail_planes;
        }
    }

    x265_picture *pic = self->pic_in;
    self->api->picture_init(self->param, pic);
    pic->planes[0] = yb.buf;
    pic->planes[1] = ub.buf;
    pic->planes[2] = vb.buf;
    pic->stride[0] = (int)yb.strides[0];
    pic->stride[1] = (int)ub.strides[0];
    pic->stride[2] = (int)vb.strides[0];
    pic->bitDepth = self->bit_depth;
    pic->colorSpace = self->csp;
    pic->pts = pts;
    pic->sliceType = force_key ? X265_TYPE_IDR : X265_TYPE_AUTO;
    pic->quantOffsets = have_offsets ? (float *)ob.buf : NULL;

    x265_nal *nals = NULL;
    uint32_t nnal = 0;
    int got;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    got = self->api->encoder_encode(self->enc, &nals, &nnal, pic, self->pic_out);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    pic->quantOffsets = NULL;

    PyBuffer_Release(&yb);
    PyBuffer_Release(&ub);
    PyBuffer_Release(&vb);
    if (have_offsets)
        PyBuffer_Release(&ob);
    if (got < 0) {
        PyErr_SetString(X265Error, "x265_encoder_encode failed");
        return NULL;
    }
    self->delayed += 1 - got;
    if (got == 0 || nnal == 0)
        Py_RETURN_NONE;
    return packet_tuple(nals, nnal, self->pic_out);

fail_planes:
    PyBuffer_Release(&yb);
    PyBuffer_Release(&ub);
    PyBuffer_Release(&vb);
    return NULL;
}

PyDoc_STRVAR(flush_doc,
"flush() -> list[tuple]\n\nDrain the frames x265 still holds (lookahead, B-frames, threads).");

static PyObject *
Encoder_flush(EncoderObject *self, PyObject *Py_UNUSED(ignored))
{
    if (check_open(self) < 0)
        return NULL;
    PyObject *list = PyList_New(0);
    if (!list)
        return NULL;
    for (;;) {
        x265_nal *nals = NULL;
        uint32_t nnal = 0;
        int got;
        self->busy = 1;
        Py_BEGIN_ALLOW_THREADS
        got = self->api->encoder_encode(self->enc, &nals, &nnal, NULL, self->pic_out);
        Py_END_ALLOW_THREADS
        self->busy = 0;
        if (got < 0) {
            Py_DECREF(list);
            PyErr_SetString(X265Error, "x265_encoder_encode failed while flushing");
            return NULL;
        }
        if (got == 0)
            break;
        self->delayed -= got;
        PyObject *t = packet_tuple(nals, nnal, self->pic_out);
        if (!t || PyList_Append(list, t) < 0) {
            Py_XDECREF(t);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(t);
    }
    self->delayed = 0;
    return list;
}

static PyObject *
Encoder_headers(EncoderObject *self, PyObject *Py_UNUSED(ignored))
{
    if (check_open(self) < 0)
        return NULL;
    x265_nal *nals = NULL;
    uint32_t nnal = 0;
    if (self->api->encoder_headers(self->enc, &nals, &nnal) < 0) {
        PyErr_SetString(X265Error, "x265_encoder_headers failed");
        return NULL;
    }
    Py_ssize_t size = 0;
    for (uint32_t i = 0; i < nnal; i++)
        size += nals[i].sizeBytes;
    PyObject *data = PyBytes_FromStringAndSize(NULL, size);
    if (!data)
        return NULL;
    char *dst = PyBytes_AS_STRING(data);
    for (uint32_t i = 0; i < nnal; i++) {
        memcpy(dst, nals[i].payload, nals[i].sizeBytes);
        dst += nals[i].sizeBytes;
    }
    return data;
}

static PyObject *
Encoder_delayed_frames(EncoderObject *self, PyObject *Py_UNUSED(ignored))
{
    if (check_open(self) < 0)
        return NULL;
    return PyLong_FromLong(self->delayed);
}

static PyObject *
Encoder_close(EncoderObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "encoder is in use by another thread");
        return NULL;
    }
    release(self);
    Py_RETURN_NONE;
}

static PyObject *
Encoder_params(EncoderObject *self, void *Py_UNUSED(closure))
{
    if (!self->param) {
        PyErr_SetString(PyExc_ValueError, "encoder is closed");
        return NULL;
    }
    const x265_param *p = self->param;
    PyObject *d = Py_BuildValue(
        "{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:d,s:i,s:i,s:i,s:i,s:d,s:i,s:i}", "width",
        p->sourceWidth, "height", p->sourceHeight, "threads", p->frameNumThreads, "bframes",
        p->bframes, "keyint", p->keyframeMax, "rc_method", p->rc.rateControlMode, "aq_mode",
        p->rc.aqMode, "aq_strength", p->rc.aqStrength, "bitrate", p->rc.bitrate,
        "repeat_headers", p->bRepeatHeaders, "annexb", p->bAnnexB, "qg_size",
        (int)p->rc.qgSize, "crf", p->rc.rfConstant, "vbv_maxrate", p->rc.vbvMaxBitrate,
        "vbv_bufsize", p->rc.vbvBufferSize);
    if (!d)
        return NULL;
    PyObject *more = Py_BuildValue(
        "{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:i,s:i,s:i}", "bit_depth", p->internalBitDepth,
        "csp", p->internalCsp, "full_range", p->vui.bEnableVideoFullRangeFlag, "colorprim",
        p->vui.colorPrimaries, "transfer", p->vui.transferCharacteristics, "colmatrix",
        p->vui.matrixCoeffs, "chromaloc",
        p->vui.bEnableChromaLocInfoPresentFlag ? p->vui.chromaSampleLocTypeTopField : -1,
        "fps_num", p->fpsNum, "fps_den", p->fpsDenom, "stat_write", p->rc.bStatWrite,
        "stat_read", p->rc.bStatRead, "level", p->levelIdc);
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

static PyObject *
Encoder_version(EncoderObject *self, void *Py_UNUSED(closure))
{
    if (!self->api)
        Py_RETURN_NONE;
    return PyUnicode_FromString(self->api->version_str);
}

static PyMethodDef Encoder_methods[] = {
    {"encode", (PyCFunction)(void (*)(void))Encoder_encode, METH_VARARGS | METH_KEYWORDS,
     encode_doc},
    {"flush", (PyCFunction)Encoder_flush, METH_NOARGS, flush_doc},
    {"headers", (PyCFunction)Encoder_headers, METH_NOARGS, "VPS/SPS/PPS as Annex-B bytes."},
    {"delayed_frames", (PyCFunction)Encoder_delayed_frames, METH_NOARGS,
     "Frames x265 holds and has not output yet."},
    {"close", (PyCFunction)Encoder_close, METH_NOARGS, "Free the x265 encoder (idempotent)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Encoder_getset[] = {
    {"params", (getter)Encoder_params, NULL, "Parameters x265 opened with (a dict).", NULL},
    {"width", (getter)Encoder_get_int, NULL, "coded width",
     (void *)offsetof(EncoderObject, width)},
    {"height", (getter)Encoder_get_int, NULL, "coded height",
     (void *)offsetof(EncoderObject, height)},
    {"mb_width", (getter)Encoder_get_int, NULL, "16x16 block columns",
     (void *)offsetof(EncoderObject, mb_width)},
    {"mb_height", (getter)Encoder_get_int, NULL, "16x16 block rows",
     (void *)offsetof(EncoderObject, mb_height)},
    {"bit_depth", (getter)Encoder_get_int, NULL, "bits per sample",
     (void *)offsetof(EncoderObject, bit_depth)},
    {"closed", (getter)Encoder_closed, NULL, "True once closed", NULL},
    {"version", (getter)Encoder_version, NULL, "libx265 version string", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rt_saliency.encode._x265.Encoder",
    .tp_basicsize = sizeof(EncoderObject),
    .tp_dealloc = (destructor)Encoder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "libx265 encoder: planar YUV + per-16x16 quant offsets in, Annex-B access units "
              "out.",
    .tp_methods = Encoder_methods,
    .tp_getset = Encoder_getset,
    .tp_init = (initproc)Encoder_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef x265module = {
    PyModuleDef_HEAD_INIT, "_x265", "libx265 through its public C API.", -1, NULL,
};

PyDoc_STRVAR(depth_doc, "has_bit_depth(depth) -> bool: whether libx265 here encodes that depth");

static PyObject *
has_bit_depth(PyObject *Py_UNUSED(module), PyObject *arg)
{
    long depth = PyLong_AsLong(arg);
    if (depth == -1 && PyErr_Occurred())
        return NULL;
    return PyBool_FromLong(depth > 0 && x265_api_get((int)depth) != NULL);
}

static PyMethodDef module_methods[] = {
    {"has_bit_depth", has_bit_depth, METH_O, depth_doc},
    {NULL, NULL, 0, NULL},
};

PyMODINIT_FUNC
PyInit__x265(void)
{
    x265module.m_methods = module_methods;
    if (PyType_Ready(&EncoderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&x265module);
    if (!m)
        return NULL;
    X265Error = PyErr_NewException("rt_saliency.encode._x265.X265Error", PyExc_RuntimeError,
                                   NULL);
    if (!X265Error || PyModule_AddObject(m, "X265Error", X265Error) < 0) {
        Py_XDECREF(X265Error);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&EncoderType);
    if (PyModule_AddObject(m, "Encoder", (PyObject *)&EncoderType) < 0) {
        Py_DECREF(&EncoderType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "X265_BUILD", X265_BUILD);
    PyModule_AddIntConstant(m, "RC_ABR", X265_RC_ABR);
    PyModule_AddIntConstant(m, "RC_CQP", X265_RC_CQP);
    PyModule_AddIntConstant(m, "RC_CRF", X265_RC_CRF);
    return m;
}
