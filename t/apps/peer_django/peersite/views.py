import hashlib
import os

from django import forms
from django.contrib import messages
from django.http import FileResponse, JsonResponse
from django.shortcuts import redirect, render


class NameForm(forms.Form):
    name = forms.CharField(max_length=50)


class UploadForm(forms.Form):
    note = forms.CharField(max_length=50)
    file = forms.FileField()


def index(request):
    request.session['visits'] = request.session.get('visits', 0) + 1
    return render(request, 'page.html', {'title': 'index',
                                         'msg': 'visits=%d' % request.session['visits']})


def form(request):
    f = NameForm(request.POST or None)
    if request.method == 'POST' and f.is_valid():
        request.session['name'] = f.cleaned_data['name']
        messages.info(request, 'saved %s' % f.cleaned_data['name'])
        return redirect('thanks')
    return render(request, 'form.html', {'form': f})


def thanks(request):
    return render(request, 'page.html', {'title': 'thanks',
                                         'msg': 'name=%s' % request.session.get('name')})


def upload(request):
    f = UploadForm(request.POST, request.FILES)
    if not f.is_valid():
        return JsonResponse({'errors': f.errors}, status=400)
    h, n = hashlib.sha1(), 0
    for chunk in f.cleaned_data['file'].chunks():
        h.update(chunk)
        n += len(chunk)
    return JsonResponse({'name': f.cleaned_data['file'].name, 'size': n,
                         'sha1': h.hexdigest(), 'note': f.cleaned_data['note']})


def boom(request):
    return 1 // 0


def absolute(request):
    return JsonResponse({'abs': request.build_absolute_uri(), 'secure': request.is_secure(),
                         'host': request.get_host(), 'path': request.path,
                         'path_info': request.path_info})


def download(request):
    # The pool's env names a file the test wrote.
    return FileResponse(open(os.environ['FW_PEER_FILE'], 'rb'), as_attachment=True,
                        filename='data.bin')
